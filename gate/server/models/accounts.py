"""Who may do what: people and agent accounts, their reviewer groups and what each group may
approve, the git hosts' and agents' API tokens, and failed logins counted for throttling."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.orm.base import NEVER_SET, NO_VALUE

from gate.server.extensions import db
from gate.server.models.base import Model, utcnow
from gate.wire import GUARD_LEN

# The role of agent accounts: not one of the human roles, so no role check ever lets one in.
AGENT_ROLE = "agent"


group_members = Table(
    "group_members",
    db.metadata,
    Column("group_id", ForeignKey("reviewer_groups.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class User(UserMixin, Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(20), default="reviewer")
    password_hash: Mapped[str] = mapped_column(String(400))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Part of every session's user id (get_id): raising it ends every session of the user.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # An agent account (role AGENT_ROLE): the human who operates it. Agents never log in or
    # approve; they exist to be named as pushers and to hold read tokens for their requests.
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    groups: Mapped[list[ReviewerGroup]] = relationship(
        secondary="group_members", back_populates="members", order_by="ReviewerGroup.name"
    )
    operator: Mapped[User | None] = relationship(remote_side=[id])

    @property
    def is_agent(self) -> bool:
        return self.role == AGENT_ROLE

    @property
    def is_active(self) -> bool:  # Flask-Login: disabled reviewers and agents cannot log in
        return self.active and not self.is_agent

    @property
    def display(self) -> str:
        return f"{self.name} <{self.email}>"

    def get_id(self) -> str:
        """The session's user id, "<id>.<session version>" (Flask-Login's alternative token)."""
        return f"{self.id}.{self.session_version or 0}"

    def end_sessions(self) -> None:
        self.session_version = (self.session_version or 0) + 1


@event.listens_for(User.password_hash, "set", active_history=True)
@event.listens_for(User.role, "set", active_history=True)
@event.listens_for(User.active, "set", active_history=True)
def _credentials_changed(user: User, value: Any, old: Any, _initiator: Any) -> None:
    """A new password, role or enabled state ends the user's sessions (a copied cookie too)."""
    if old is not NO_VALUE and old is not NEVER_SET and value != old:
        user.end_sessions()


class ReviewerGroup(Model):
    __tablename__ = "reviewer_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    members: Mapped[list[User]] = relationship(
        secondary=group_members, back_populates="groups", order_by=User.username
    )


class GuardGroup(Model):
    """Reviewers of ``group`` may approve for ``guard``. A guard with no rows: any reviewer."""

    __tablename__ = "guard_groups"

    guard: Mapped[str] = mapped_column(String(GUARD_LEN), primary_key=True)
    group_id: Mapped[int] = mapped_column(
        ForeignKey("reviewer_groups.id", ondelete="CASCADE"), primary_key=True
    )

    group: Mapped[ReviewerGroup] = relationship()


class HookToken(Model):
    """An API token: a git host's hook token (kind "hook": holds and push reports for the
    repositories it names) or an agent's read token (kind "agent-read": that agent's requests).
    What each kind may do is decided in one place, gate.server.services.scopes."""

    __tablename__ = "hook_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(20), default="hook", server_default="hook")
    # Hook tokens: the git host whose hooks hold it, and the repository patterns it speaks for.
    host: Mapped[str | None] = mapped_column(String(200))
    repositories: Mapped[list[str]] = mapped_column(JSON, default=list)
    all_repositories: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # Made before scopes existed (migration 0008): all repositories, host = its name.
    unscoped: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # Agent read tokens: the agent account whose requests it reads.
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Refusals are audited at most once per window per token (see scopes.note_refusal).
    refusal_noted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refusals_unnoted: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    agent: Mapped[User | None] = relationship()


class LoginAttempt(Model):
    """A failed login or step-up, counted per key (user:NAME, ip:ADDR) for rate limiting.

    Kept in the database so that the limit holds across gunicorn workers and hosts.
    """

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_key_time", "key", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
