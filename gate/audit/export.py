"""Audit export formats: JSON Lines, CSV and the signed bundle (zip). Pure functions of the
exported records; the database side is gate.server.services.exports. Layouts: docs/audit.md."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from gate import clock
from gate.audit.verify import (
    BUNDLE_FORMAT,
    RECORD_FIELDS,
    Record,
    attestation_name,
    canonical_json,
    dsse_envelope,
    review_statements,
)

FORMATS = ("jsonl", "csv", "bundle")
CSV_COLUMNS = (
    "seq",
    "time",
    "actor",
    "actor_auth",
    "action",
    "subject",
    "policy_sha256",
    "prev_hash",
    "hash",
    "schema",
)
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True)
class Period:
    """Which records to export: times as stored (RFC 3339 UTC), since inclusive, until exclusive."""

    since: str | None = None
    until: str | None = None

    @property
    def filtered(self) -> bool:
        return self.since is not None or self.until is not None


def parse_period(since: str | None, until: str | None) -> Period:
    """--since DAY starts at that day's midnight UTC; --until DAY includes that whole day (the
    one reading of times in gate: gate.clock.parse_period)."""
    start, end = clock.parse_period(since, until)
    return Period(
        start.strftime(_TIME_FORMAT) if start else None,
        end.strftime(_TIME_FORMAT) if end else None,
    )


def jsonl_bytes(records: list[dict[str, Any]]) -> bytes:
    """One canonical JSON object per line (the hashed fields plus ``hash``), in seq order."""
    return b"".join(canonical_json(record) + b"\n" for record in records)


def csv_bytes(records: list[dict[str, Any]]) -> bytes:
    """For sampling: one row per record, the subject as canonical JSON, with each record's hash."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for record in records:
        row = {**record, "subject": canonical_json(record["subject"]).decode("utf-8")}
        writer.writerow(["" if row[c] is None else row[c] for c in CSV_COLUMNS])
    return out.getvalue().encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class BundleInputs:
    records: list[dict[str, Any]]
    checkpoints: list[tuple[int, str]]  # (checkpoint id, signed note)
    public_keys: dict[str, bytes]  # fingerprint -> PEM, current and retired
    current_fingerprint: str
    origin: str
    period: Period
    tool: str
    created_at: str
    retention_days: int
    report_html: str
    attestations: dict[str, bytes] = field(default_factory=dict)  # name -> DSSE envelope


def review_envelopes(
    records: list[dict[str, Any]], sign: Callable[[bytes], bytes], keyid: str
) -> dict[str, bytes]:
    """attestations/request-N.intoto.json -> the DSSE envelope of each approved request's
    in-toto statement (gate.audit.verify.review_statements), signed by ``sign``."""
    statements = review_statements([Record(n, r) for n, r in enumerate(records, 1)])
    return {
        attestation_name(request): dsse_envelope(statement, sign, keyid)
        for request, statement in sorted(statements.items())
    }


def bundle_files(inputs: BundleInputs) -> tuple[dict[str, bytes], bytes]:
    """Every file of the bundle except manifest.sig, and the manifest's bytes to sign."""
    records = inputs.records
    files: dict[str, bytes] = {"records.jsonl": jsonl_bytes(records)}
    for checkpoint_id, note in inputs.checkpoints:
        files[f"checkpoints/{checkpoint_id:08d}.note"] = note.encode("utf-8")
    files["public-key.pem"] = inputs.public_keys[inputs.current_fingerprint]
    for fp, pem in sorted(inputs.public_keys.items()):
        files[f"keys/{fp[:16]}.pub.pem"] = pem
    files["report.html"] = inputs.report_html.encode("utf-8")
    files.update(inputs.attestations)
    created = datetime.strptime(inputs.created_at, _TIME_FORMAT).replace(tzinfo=UTC)
    manifest = {
        "format": BUNDLE_FORMAT,
        "origin": inputs.origin,
        "tool": inputs.tool,
        "created_at": inputs.created_at,
        "period": {"since": inputs.period.since, "until": inputs.period.until},
        "count": len(records),
        "first_seq": records[0]["seq"] if records else None,
        "last_seq": records[-1]["seq"] if records else None,
        "first_prev_hash": records[0]["prev_hash"] if records else None,
        "head_hash": records[-1]["hash"] if records else None,
        "public_key_fingerprint": inputs.current_fingerprint,
        "retention": {
            "days": inputs.retention_days,
            "retain_until": (created + timedelta(days=inputs.retention_days)).date().isoformat(),
        },
        "record_fields": [*RECORD_FIELDS, "hash"],
        "files": {name: sha256(data) for name, data in sorted(files.items())},
    }
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")
    return files, manifest_bytes


def manifest_note_text(origin: str, manifest_bytes: bytes) -> str:
    """What manifest.sig signs: the origin and the manifest's SHA-256."""
    return f"{origin}\nmanifest sha256 {sha256(manifest_bytes)}\n"


def zip_bundle(files: dict[str, bytes], manifest: bytes, manifest_sig: str) -> bytes:
    """The zip, with SHA256SUMS (sha256sum -c format) over every other file."""
    everything = {**files, "manifest.json": manifest, "manifest.sig": manifest_sig.encode("utf-8")}
    sums = "".join(f"{sha256(data)}  {name}\n" for name, data in sorted(everything.items()))
    everything["SHA256SUMS"] = sums.encode("utf-8")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(everything):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, everything[name])
    return out.getvalue()
