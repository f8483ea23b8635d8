"""The audit record browser: the log's records, newest first, filtered and paged by seq.

Read-only. Pages are cut by sequence number (``before``: the records below it), so each page
reads at most one page of matching rows however long the log is. Times are read with the one
parser of export periods (gate.audit.export.parse_period, on gate.clock), the same reading as
`gate audit export --since/--until`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from gate.audit.export import Period, parse_period
from gate.server.extensions import db
from gate.server.models import AuditRecord

PAGE = 50


@dataclass(frozen=True)
class RecordFilters:
    action: str = ""
    actor: str = ""
    repository: str = ""
    since: str = ""
    until: str = ""

    @classmethod
    def from_args(cls, args: Any) -> RecordFilters:
        def text(name: str, limit: int = 200) -> str:
            value = args.get(name, "")
            return value.strip()[:limit] if isinstance(value, str) else ""

        return cls(
            action=text("action", 60),
            actor=text("actor", 320),
            repository=text("repository", 500),
            since=text("since", 40),
            until=text("until", 40),
        )

    def as_args(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}

    def period(self) -> Period:
        """The time range; gate.errors.InputError when a time cannot be read."""
        return parse_period(self.since or None, self.until or None)


@dataclass
class RecordPage:
    records: list[AuditRecord]
    older: int | None  # the ``before`` of the next (older) page; None: this is the last


def browse(filters: RecordFilters, before: int | None, per_page: int = PAGE) -> RecordPage:
    period = filters.period()
    where: list[Any] = []
    if filters.action:
        where.append(AuditRecord.action == filters.action)
    if filters.actor:
        where.append(func.lower(AuditRecord.actor).contains(filters.actor.lower(), autoescape=True))
    if filters.repository:
        where.append(AuditRecord.subject["repository"].as_string() == filters.repository)
    if period.since:
        where.append(AuditRecord.created_at >= period.since)
    if period.until:
        where.append(AuditRecord.created_at < period.until)
    if before is not None:
        where.append(AuditRecord.seq < before)
    rows = list(
        db.session.scalars(
            select(AuditRecord).where(*where).order_by(AuditRecord.seq.desc()).limit(per_page + 1)
        )
    )
    more = len(rows) > per_page
    rows = rows[:per_page]
    return RecordPage(rows, rows[-1].seq if more and rows else None)


def known_actions() -> list[str]:
    return list(
        db.session.scalars(select(AuditRecord.action).distinct().order_by(AuditRecord.action))
    )
