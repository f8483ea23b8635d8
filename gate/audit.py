"""The append-only, hash-chained audit log.

Each record's hash is SHA-256 over its canonical JSON (sorted keys, no spaces, UTF-8, no
floats: the RFC 8785 subset our records use), including the previous record's hash, so any
change, removal or reordering breaks the chain. Records are appended in the same transaction
as the change they describe.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text

from gate.extensions import db
from gate.models import AuditRecord

SCHEMA_VERSION = 1
GENESIS = "0" * 64
_PG_LOCK_KEY = 0x6761746561756469  # "gateaudi": serialises appends on PostgreSQL


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8", errors="surrogatepass"
    )


def record_body(record: AuditRecord) -> dict[str, Any]:
    """The hashed fields of a record, as exported."""
    return {
        "schema": record.schema,
        "seq": record.seq,
        "time": record.created_at,
        "actor": record.actor,
        "actor_auth": record.actor_auth,
        "action": record.action,
        "subject": record.subject,
        "policy_sha256": record.policy_sha256,
        "prev_hash": record.prev_hash,
    }


def record_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(body)).hexdigest()


def append(
    action: str,
    *,
    actor: str,
    actor_auth: str,
    subject: dict[str, Any],
    policy_sha256: str | None = None,
) -> AuditRecord:
    """Add one record to the current transaction; it commits or rolls back with the change."""
    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    head = session.execute(
        select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)
    ).first()
    seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
    record = AuditRecord(
        seq=seq,
        schema=SCHEMA_VERSION,
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        actor=actor,
        actor_auth=actor_auth,
        action=action,
        subject=json.loads(canonical_json(subject)),
        policy_sha256=policy_sha256,
        prev_hash=prev,
        hash="",
    )
    record.hash = record_hash(record_body(record))
    session.add(record)
    session.flush()
    return record


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditRecord)) or 0
