"""What landed: the git side's post-receive reports become ``push.accepted`` audit records.

Disclosure figures (agent share, time to sign-off, ...) are computed from audit records only,
by ``gate.disclosure.compute``, so an export reproduces them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gate.server.extensions import db
from gate.server.models import PushReport
from gate.server.services import audit
from gate.server.services.actor import Actor
from gate.server.services.heartbeats import count_reported_memory
from gate.server.services.landings import check_landed


def record_push(report: dict[str, Any], actor: Actor) -> dict[str, Any]:
    """Append one ``push.accepted`` record; a report already received is not recorded again."""
    seen = db.session.scalar(select(PushReport).where(PushReport.report_id == report["report_id"]))
    if seen is not None:
        return {"recorded": False, "seq": seen.audit_seq}
    record = audit.append(
        "push.accepted",
        actor=actor,
        subject=report,
        policy_sha256=report["policy"]["sha256"],
    )
    db.session.add(
        PushReport(
            report_id=report["report_id"], repository=report["repository"], audit_seq=record.seq
        )
    )
    count_reported_memory(report["repository"], report["remembered_count"])
    # What landed is checked against the approvals: a hook that did not run lets anything in.
    check_landed(report["repository"], report["agent_commits"], "post-receive", actor)
    return {"recorded": True, "seq": record.seq}
