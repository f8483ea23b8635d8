"""The disclosure report: the audit log read for gate.disclosure.compute (agent share, time
to sign-off, ...), from the database in pages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from gate.disclosure.compute import compute_report
from gate.server.extensions import db
from gate.server.models import AuditRecord
from gate.server.services.audit import record_body

# The actions the disclosure report and its pause windows read; no other record changes a
# figure (the report's record count and seq range come from the whole log, counted apart).
REPORT_ACTIONS = (
    "push.accepted",
    "push.allowed",
    "push.refused",
    "request.held",
    "request.approved",
    "request.denied",
    "decision.approve",
    "decision.deny",
    "pause.started",
    "pause.stopped",
    "pause.expired",
    "commit.landed_without_signoff",
)
PAGE = 2000


def audit_records() -> list[dict[str, Any]]:
    """Every audit record, oldest first, in the shape of the export (with its hash)."""
    return [
        {**record_body(r), "hash": r.hash}
        for r in db.session.scalars(select(AuditRecord).order_by(AuditRecord.seq))
    ]


def disclosure_report(
    since: datetime | None = None, until: datetime | None = None, week_by: str = "commit"
) -> dict[str, Any]:
    """The same report as ``compute_report(audit_records(), ...)``, without loading the whole
    log: the records it reads come in pages by seq, as plain rows of the columns it uses, and
    the log's size and seq range from one aggregate query."""
    report = compute_report(report_records(), since, until, week_by)
    count, first, last = db.session.execute(
        select(func.count(), func.min(AuditRecord.seq), func.max(AuditRecord.seq))
    ).one()
    report["records"] |= {"count": count, "first_seq": first, "last_seq": last}
    return report


def report_records(page: int = PAGE) -> Iterator[dict[str, Any]]:
    """The records of REPORT_ACTIONS, oldest first, ``page`` at a time (keyset on seq)."""
    after = 0
    while True:
        rows = db.session.execute(
            select(
                AuditRecord.seq,
                AuditRecord.created_at,
                AuditRecord.actor,
                AuditRecord.action,
                AuditRecord.subject,
            )
            .where(AuditRecord.action.in_(REPORT_ACTIONS), AuditRecord.seq > after)
            .order_by(AuditRecord.seq)
            .limit(page)
        ).all()
        for seq, time, actor, action, subject in rows:
            yield {"seq": seq, "time": time, "actor": actor, "action": action, "subject": subject}
        if len(rows) < page:
            return
        after = rows[-1][0]
