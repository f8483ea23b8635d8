"""Tables for the reviewer experience: queue facets, reviewer groups, login throttling, webhooks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

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
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gate.server.extensions import db
from gate.server.models.base import Model
from gate.server.models.core import User, utcnow

group_members = Table(
    "group_members",
    db.metadata,
    Column("group_id", ForeignKey("reviewer_groups.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
)


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

    guard: Mapped[str] = mapped_column(String(200), primary_key=True)
    group_id: Mapped[int] = mapped_column(
        ForeignKey("reviewer_groups.id", ondelete="CASCADE"), primary_key=True
    )

    group: Mapped[ReviewerGroup] = relationship()


class LoginAttempt(Model):
    """A failed login or step-up, counted per key (user:NAME, ip:ADDR) for rate limiting.

    Kept in the database so that the limit holds across gunicorn workers and hosts.
    """

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_key_time", "key", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Webhook(Model):
    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    style: Mapped[str] = mapped_column(String(10), default="json")  # json | slack
    secret: Mapped[str] = mapped_column(String(200))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: all events
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WebhookDelivery(Model):
    """One event for one webhook: written with the event, sent after commit, retried."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_state_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # A webhook's delivery, or (NULL) an e-mail to ``email_to`` (gate.server.services.mail).
    webhook_id: Mapped[int | None] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    email_to: Mapped[str | None] = mapped_column(String(320))
    event: Mapped[str] = mapped_column(String(60))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(12), default="pending")  # pending|delivered|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Sent with every attempt: a receiver that sees a key twice has seen the event already.
    idempotency_key: Mapped[str] = mapped_column(String(64), default=lambda: uuid.uuid4().hex)

    webhook: Mapped[Webhook | None] = relationship()
