"""Database tables (SQLAlchemy 2.0 typed models). Only gate.server.services writes to them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    event,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.orm.base import NEVER_SET, NO_VALUE

from gate.server.models.base import Model

if TYPE_CHECKING:
    from gate.server.models.review import RequestFacet, ReviewerGroup


def utcnow() -> datetime:
    return datetime.now(UTC)


# The role of agent accounts: not one of the human roles, so no role check ever lets one in.
AGENT_ROLE = "agent"


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


class AuditRecord(Model):
    """One append-only, hash-chained audit event. Never updated or deleted."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    schema: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[str] = mapped_column(String(40))  # RFC 3339 UTC, as hashed
    actor: Mapped[str] = mapped_column(String(320))
    actor_auth: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(60), index=True)
    subject: Mapped[dict[str, Any]] = mapped_column(JSON)
    policy_sha256: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
