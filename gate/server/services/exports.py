"""Audit exports from the database: JSON Lines, CSV, or the signed bundle for auditors.

Reading never changes a record; a bundle export first signs a fresh checkpoint, so the bundle's
newest records are covered by a signature made at export time. Every export first checks that the
log extends the head the signer signed last, and is refused (with the audit alert) if not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import func, select

from gate import __version__
from gate.audit.export import (
    FORMATS,
    BundleInputs,
    Period,
    bundle_files,
    csv_bytes,
    jsonl_bytes,
    manifest_note_text,
    review_envelopes,
    zip_bundle,
)
from gate.audit.keys import public_keys, sign_note
from gate.audit.report import render_report
from gate.server.extensions import db
from gate.server.models import AuditCheckpoint, AuditRecord
from gate.server.services import ServiceError, audit
from gate.server.services.checkpoints import (
    check_log,
    create_checkpoint,
    key_directory,
    log_origin,
    signing_key,
)

SUFFIX = {"jsonl": "jsonl", "csv": "csv", "bundle": "zip"}


@dataclass(frozen=True)
class Export:
    data: bytes
    filename: str
    count: int
    first_seq: int | None
    last_seq: int | None


def records_in(period: Period) -> list[dict[str, object]]:
    """The contiguous run of records from the first at/after ``since`` to the last before
    ``until``, in seq order (contiguous even if a clock stepped back between appends)."""
    bounds = select(func.min(AuditRecord.seq), func.max(AuditRecord.seq))
    if period.since:
        bounds = bounds.where(AuditRecord.created_at >= period.since)
    if period.until:
        bounds = bounds.where(AuditRecord.created_at < period.until)
    first, last = db.session.execute(bounds).one()
    if first is None:
        return []
    rows = db.session.scalars(
        select(AuditRecord)
        .where(AuditRecord.seq >= first, AuditRecord.seq <= last)
        .order_by(AuditRecord.seq)
    )
    return [audit.exported(row) for row in rows]


def export_audit(fmt: str, period: Period) -> Export:
    if fmt not in FORMATS:
        raise ServiceError(f"format must be one of {', '.join(FORMATS)}")
    if fmt == "bundle":
        create_checkpoint()
    else:
        check_log()
    records = records_in(period)
    first = records[0]["seq"] if records else None
    last = records[-1]["seq"] if records else None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    filename = f"gate-audit-{stamp}.{SUFFIX[fmt]}"
    if fmt == "jsonl":
        data = jsonl_bytes(records)
    elif fmt == "csv":
        data = csv_bytes(records)
    else:
        data = _bundle(records, period)
    return Export(data, filename, len(records), first, last)  # type: ignore[arg-type]


def _bundle(records: list[dict[str, object]], period: Period) -> bytes:
    key = signing_key()
    origin = log_origin()
    first = int(records[0]["seq"]) - 1 if records else 0  # type: ignore[call-overload]
    last = int(records[-1]["seq"]) if records else 0  # type: ignore[call-overload]
    # Up to the end of the log, every checkpoint beyond the export's first record goes in, so a
    # record missing from the tail shows as a checkpoint larger than the export.
    covered = AuditCheckpoint.size >= first
    if period.until:
        covered = covered & (AuditCheckpoint.size <= last)
    checkpoints = db.session.execute(
        select(AuditCheckpoint.id, AuditCheckpoint.note).where(covered).order_by(AuditCheckpoint.id)
    ).all()
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    retention = int(current_app.config["GATE_AUDIT_RETENTION_DAYS"])
    inputs = BundleInputs(
        records=records,
        checkpoints=[(row.id, row.note) for row in checkpoints],
        public_keys=public_keys(key_directory()),
        current_fingerprint=key.fingerprint,
        origin=origin,
        period=period,
        tool=f"gate {__version__}",
        created_at=created,
        retention_days=retention,
        report_html="",
        attestations=review_envelopes(records, key.private.sign, key.fingerprint),
    )
    # The report shows the manifest's facts, and the manifest lists the report's digest.
    _, draft = bundle_files(inputs)
    report = render_report(inputs.records, json.loads(draft))
    files, manifest = bundle_files(BundleInputs(**{**inputs.__dict__, "report_html": report}))
    signature = sign_note(manifest_note_text(origin, manifest), origin, [key])
    return zip_bundle(files, manifest, signature)
