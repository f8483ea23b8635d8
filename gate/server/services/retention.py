"""Retention: audit records are kept (never deleted by gate); diff bodies of decided requests
may be pruned after GATE_DIFF_RETENTION_DAYS, keeping their SHA-256 in the items and the log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from gate.server.extensions import db
from gate.server.models import ApprovalRequest, HeldBlob, HeldItem
from gate.server.services import ServiceError, audit
from gate.server.services.actor import Actor

MINIMUM_DIFF_DAYS = 183  # six months: EU AI Act Art. 19(1) / 26(6) minimum for logs


def prune_diffs(older_than_days: int, *, actor: Actor) -> int:
    """Empty the diff bodies of items whose request was decided before the cutoff."""
    if older_than_days < MINIMUM_DIFF_DAYS:
        raise ServiceError(
            f"diff bodies are kept at least {MINIMUM_DIFF_DAYS} days (six months); "
            f"{older_than_days} is too short"
        )
    cutoff = datetime.now(UTC) - timedelta(days=older_than_days)
    items = db.session.scalars(
        select(HeldItem)
        .join(ApprovalRequest, HeldItem.request_id == ApprovalRequest.id)
        .where(ApprovalRequest.state != "pending", ApprovalRequest.decided_at < cutoff)
        .order_by(HeldItem.id)
    ).all()
    pruned = [item for item in items if item.diffs]
    if not pruned:
        return 0
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for item in pruned:
        item.diffs = []
        item.meta = {**(item.meta or {}), "diffs_pruned_at": when}
    # The blobs context is expanded from are the diff's content: they go with it.
    db.session.execute(
        delete(HeldBlob).where(HeldBlob.request_id.in_({i.request_id for i in pruned}))
    )
    audit.append(
        "diffs.pruned",
        actor=actor,
        subject={
            "older_than_days": older_than_days,
            "items": [
                {"request": i.request_id, "key": i.key, "diff_sha256": i.diff_sha256}
                for i in pruned
            ],
        },
    )
    return len(pruned)
