"""Pauses of agent changes to guarded code, started and stopped by named admins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gate.server.models.accounts import User
from gate.server.models.base import Model, utcnow


class Pause(Model):
    """A freeze of agent changes to some guards (or all), started and stopped by named admins.

    In force while ``ended_at`` is unset and ``until`` (if any) lies in the future. A pause that
    reaches ``until`` is closed lazily, with a ``pause.expired`` audit record.
    """

    __tablename__ = "pauses"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[list[str]] = mapped_column(JSON)  # ["all"] or guard names
    reason: Mapped[str] = mapped_column(Text)
    started_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    end_kind: Mapped[str | None] = mapped_column(String(20))  # stopped | expired

    started_by: Mapped[User] = relationship(foreign_keys=[started_by_id])
    ended_by: Mapped[User | None] = relationship(foreign_keys=[ended_by_id])

    @property
    def is_all(self) -> bool:
        return "all" in self.scope

    def covers(self, guards: set[str]) -> bool:
        return bool(guards) and (self.is_all or bool(guards & set(self.scope)))
