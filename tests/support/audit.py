"""Read the audit log of a test's app; wait for the post-receive worker's reports."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask


def audit_records(app: Flask) -> list[dict[str, Any]]:
    from gate.services.reports import audit_records as read

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
