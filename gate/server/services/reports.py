"""Read the audit log as export-shaped records, for reports computed over records."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gate.server.extensions import db
from gate.server.models import AuditRecord
from gate.server.services.audit import record_body


def audit_records() -> list[dict[str, Any]]:
    """Every audit record, oldest first, in the shape of the export (with its hash)."""
    return [
        {**record_body(r), "hash": r.hash}
        for r in db.session.scalars(select(AuditRecord).order_by(AuditRecord.seq))
    ]
