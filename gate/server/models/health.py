"""What git hosts report of each guarded repository: the hooks' last heartbeat, the agent
commits found on its protected refs without sign-off, and the accepted pushes' reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gate.server.models.base import Model, utcnow
from gate.server.models.requests import Repository


class RepositoryHeartbeat(Model):
    """One row per repository, updated by each heartbeat (history is in the audit log: every
    alert and every recovery is a record there)."""

    __tablename__ = "repository_heartbeats"

    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id"), primary_key=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    source: Mapped[str | None] = mapped_column(String(20))
    hook_version: Mapped[str | None] = mapped_column(String(100))
    layout: Mapped[str | None] = mapped_column(String(40))
    token_id: Mapped[int | None] = mapped_column(ForeignKey("hook_tokens.id"))
    # Pushes whose hook saw no authenticated pusher (only the commits' own marks then count).
    unknown_pusher_pushes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    unknown_pusher_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # What `gate doctor --report` last found wrong ([] when healthy), and when.
    problems: Mapped[list[Any]] = mapped_column(JSON, default=list)
    doctor_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Agent-pushed commits push reports named (``remembered``), and how many the host's
    # provenance store counted in its last heartbeat (None: the hook did not say). Fewer on
    # the host than reported means the store was lost or replaced.
    remembered_reported: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    remembered_on_host: Mapped[int | None] = mapped_column(Integer)
    # Set when the overdue alert was raised; cleared by the next heartbeat.
    overdue_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    repository: Mapped[Repository] = relationship()


class UnsignedLanding(Model):
    """An agent commit on a guarded path found on a protected ref with no approval ("landed
    without sign-off"), by post-receive or ``gate reconcile``; recorded once per commit."""

    __tablename__ = "unsigned_landings"
    __table_args__ = (UniqueConstraint("repository_id", "commit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id"), index=True)
    commit_id: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(20))
    audit_seq: Mapped[int] = mapped_column(Integer)
    found_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PushReport(Model):
    """One post-receive report, kept so a resent (spooled) report is recorded only once."""

    __tablename__ = "push_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[str] = mapped_column(String(64), unique=True)
    repository: Mapped[str] = mapped_column(String(500))
    audit_seq: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
