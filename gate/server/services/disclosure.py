"""What landed: the git side's post-receive reports become ``push.accepted`` audit records.

Disclosure figures (agent share, time to sign-off, ...) are computed from audit records only,
by ``gate.disclosure.compute``, so an export reproduces them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gate.server.extensions import db
from gate.server.models import HookToken, PushReport
from gate.server.services import audit


def record_push(report: dict[str, Any], token: HookToken) -> dict[str, Any]:
    """Append one ``push.accepted`` record; a report already received is not recorded again."""
    seen = db.session.scalar(select(PushReport).where(PushReport.report_id == report["report_id"]))
    if seen is not None:
        return {"recorded": False, "seq": seen.audit_seq}
    record = audit.append(
        "push.accepted",
        actor=f"hook-token:{token.id}:{token.name}",
        actor_auth="hook-token",
        subject=report,
        policy_sha256=report["policy"]["sha256"],
    )
    db.session.add(
        PushReport(
            report_id=report["report_id"], repository=report["repository"], audit_seq=record.seq
        )
    )
    db.session.commit()
    return {"recorded": True, "seq": record.seq}
