"""Read the audit log of a test's app; wait for the post-receive worker's reports."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask
from sqlalchemy import select

from gate.audit.export import jsonl_bytes
from gate.audit.verify import verify_jsonl
from gate.server.services.audit import exported


def audit_records(app: Flask) -> list[dict[str, Any]]:
    from gate.server.services.disclosure import audit_records as read

    with app.app_context():
        return read()


def wait_for_push_reports(app: Flask, count: int, patience: float = 60.0) -> list[dict[str, Any]]:
    """The ``push.accepted`` records, once there are ``count`` of them (the worker is detached)."""
    deadline = time.monotonic() + patience
    while True:
        reports = [r for r in audit_records(app) if r["action"] == "push.accepted"]
        if len(reports) >= count or time.monotonic() > deadline:
            assert len(reports) == count, f"expected {count} push reports, got {len(reports)}"
            return reports
        time.sleep(0.1)


def audit_problems(app) -> list[str]:  # type: ignore[no-untyped-def]
    from gate.server.extensions import db
    from gate.server.models import AuditRecord

    with app.app_context():
        rows = db.session.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all()
        report = verify_jsonl(jsonl_bytes([exported(r) for r in rows]))
    return [str(p) for p in report.problems]
