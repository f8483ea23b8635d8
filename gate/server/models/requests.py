"""Held pushes: the repositories they went to, the approval requests, every held commit (or ref
change) with the diff the reviewer reads, the reviewers' decisions and the queue's facets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gate.server.models.accounts import User
from gate.server.models.base import Model, utcnow


class Repository(Model):
    __tablename__ = "repositories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(500), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApprovalRequest(Model):
    __tablename__ = "requests"
    __table_args__ = (
        Index("ix_requests_state_created", "state", "created_at"),
        Index("ix_requests_created", "created_at"),
        Index("ix_requests_pusher", "pusher"),
        Index("ix_requests_supersede", "repository_id", "ref", "pusher", "host", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id"), index=True)
    ref: Mapped[str] = mapped_column(String(500))
    pusher: Mapped[str | None] = mapped_column(String(200))
    old: Mapped[str] = mapped_column(String(64))
    new: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20), default="pending")
    required: Mapped[dict[str, int]] = mapped_column(JSON)  # guard name -> distinct approvals
    policy_sha256: Mapped[str] = mapped_column(String(64))
    token_id: Mapped[int | None] = mapped_column(ForeignKey("hook_tokens.id"))
    # The git host that recorded the push (its hook token's host): the pusher is that host's.
    host: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id"))
    # The human operating the agent account that pushed ([agents.owners] in the policy).
    agent_owner: Mapped[str | None] = mapped_column(String(320))
    # guard -> its approval step-up when not the password ({"model": "webauthn"}); NULL: none.
    approval_methods: Mapped[dict[str, str] | None] = mapped_column(JSON)

    repository: Mapped[Repository] = relationship()
    items: Mapped[list[HeldItem]] = relationship(back_populates="request", order_by="HeldItem.id")
    decisions: Mapped[list[Decision]] = relationship(
        back_populates="request", order_by="Decision.id"
    )
    facets: Mapped[list[RequestFacet]] = relationship(
        order_by="RequestFacet.id", cascade="all, delete-orphan"
    )


class HeldItem(Model):
    """A held commit (or ref deletion/rewrite); approvals bind to (repository, key)."""

    __tablename__ = "held_items"
    __table_args__ = (
        Index(
            "uq_held_items_active_key",
            "repository_id",
            "key",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), index=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id"))
    key: Mapped[str] = mapped_column(String(700))
    kind: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    author_name: Mapped[str] = mapped_column(String(300), default="")
    author_email: Mapped[str] = mapped_column(String(320), default="")
    committer_name: Mapped[str] = mapped_column(String(300), default="")
    committer_email: Mapped[str] = mapped_column(String(320), default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    message: Mapped[str] = mapped_column(Text, default="")
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    signals: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    guards: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict)
    diffs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    diff_sha256: Mapped[str | None] = mapped_column(String(64))  # of the diff as shown
    # Of the objects the diff was rendered from (gate.git.objects.content_sha256), as the
    # server verified them; NULL for items held before it did.
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    # ``git patch-id --stable`` of the commit's diff, computed from the verified objects
    # (gate.server.patchid); NULL for merges, partial diffs and items held before 0015.
    patch_id: Mapped[str | None] = mapped_column(String(40))

    request: Mapped[ApprovalRequest] = relationship(back_populates="items")


class Decision(Model):
    __tablename__ = "decisions"
    __table_args__ = (
        # One standing approval per reviewer and request: a second one (a double-click's
        # twin POST) cannot be stored, whatever the code above the database does.
        Index(
            "uq_decisions_standing_approval",
            "request_id",
            "reviewer_id",
            unique=True,
            sqlite_where=text("verdict = 'approve' AND withdrawn_at IS NULL"),
            postgresql_where=text("verdict = 'approve' AND withdrawn_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    verdict: Mapped[str] = mapped_column(String(10))  # approve | deny
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # What an approval attests to, as the reviewer saw it, and how they proved who they were.
    attestation: Mapped[str | None] = mapped_column(Text)
    attested_sha256: Mapped[str | None] = mapped_column(String(64))
    auth_method: Mapped[str | None] = mapped_column(String(60))

    request: Mapped[ApprovalRequest] = relationship(back_populates="decisions")
    reviewer: Mapped[User] = relationship()


class RequestFacet(Model):
    """A filterable property of a request: one row per guard and per agent it concerns."""

    __tablename__ = "request_facets"
    __table_args__ = (Index("ix_request_facets_kind_value", "kind", "value", "request_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))  # guard | agent
    value: Mapped[str] = mapped_column(String(200))
