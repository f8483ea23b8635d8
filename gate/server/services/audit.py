"""The append-only, hash-chained audit log.

Each record's hash is SHA-256 over its canonical JSON (RFC 8785 for the values records use:
see gate.audit.verify.canonical_json, shared with the offline verifier so both use the same rules),
including the previous record's hash, so any change, removal or reordering breaks the chain.
Records are appended in the same transaction as the change they describe; nothing in gate
updates or deletes them, and database triggers (migration 0002) refuse it.

Appends are serialised so the sequence stays gap-free: PostgreSQL takes a transaction-level
advisory lock; SQLite takes its database write lock (a write that touches no row) before reading
the head, so two transactions can never both read the same head.

Every write takes that lock before its first row, not only appends: the session's flush and its
INSERT/UPDATE/DELETE statements take it (see _lock_before_writing). A writer that changed a row
first and appended later could otherwise wait for the lock while the lock's holder waits for
that row: a hold and a post-receive report for a repository the server had not heard of each
inserted its name, and PostgreSQL broke the deadlock by failing the hold.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, func, select, text
from sqlalchemy.orm import ORMExecuteState, Session

from gate.audit.verify import GENESIS, canonical_json, record_hash
from gate.server.extensions import db
from gate.server.models import AuditRecord
from gate.server.services.actor import Actor

__all__ = [
    "GENESIS",
    "SCHEMA_VERSION",
    "append",
    "canonical_json",
    "count",
    "exported",
    "lock",
    "record_body",
    "record_hash",
]

SCHEMA_VERSION = 1
_PG_LOCK_KEY = 0x6761746561756469  # "gateaudi": serialises appends on PostgreSQL


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


def exported(record: AuditRecord) -> dict[str, Any]:
    """A record as one export line: its hashed fields plus its own hash."""
    return {**record_body(record), "hash": record.hash}


def lock() -> None:
    """Take the audit log's append lock for the rest of the transaction.

    Writes take it by themselves; a service calls this before reading what it will change
    (``SELECT ... FOR UPDATE``, the head of the log), so that it waits for the lock before it
    holds anything another writer could wait for.
    """
    _lock_session(db.session())


def _lock_session(session: Session) -> None:
    held_in = session.info.get(_LOCKED)
    if held_in is not None and held_in is _locked_in(session):
        return  # already held: both locks last until this transaction ends
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    elif dialect == "sqlite":
        # Matches no row (so the append-only triggers do not fire) but takes the write lock,
        # which this transaction then holds until it commits.
        session.execute(text("UPDATE audit_log SET seq = seq WHERE 0"))
    session.info[_LOCKED] = _locked_in(session)


_LOCKED = "gate.audit_locked_in"
_HEAD = "gate.audit_head"  # (transaction, seq, hash) of the record this transaction last appended


@event.listens_for(db.session, "before_flush")
def _lock_before_flush(session: Session, _context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        _lock_session(session)


@event.listens_for(db.session, "do_orm_execute")
def _lock_before_statement(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        _lock_session(state.session)


def _locked_in(session: Any) -> Any:
    """The transaction a lock taken now belongs to: the innermost one, so that rolling back a
    savepoint (which releases locks taken inside it) or ending the transaction (a new
    transaction object begins) makes the next ``lock`` take it again."""
    return session.get_nested_transaction() or session.get_transaction()


def append(
    action: str,
    *,
    actor: Actor,
    subject: dict[str, Any],
    policy_sha256: str | None = None,
) -> AuditRecord:
    """Add one record to the current transaction; it commits or rolls back with the change.

    Who and how come from ``actor`` as the edge made it, never from a guess on the name."""
    session = db.session()
    lock()
    held = session.info.get(_HEAD)
    if held is not None and held[0] is _locked_in(session):
        # This transaction appended the head itself, under the lock it still holds.
        seq, prev = held[1] + 1, held[2]
    else:
        head = session.execute(
            select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)
        ).first()
        seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
    record = AuditRecord(
        seq=seq,
        schema=SCHEMA_VERSION,
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        actor=actor.name,
        actor_auth=actor.auth,
        action=action,
        subject=json.loads(canonical_json(subject)),
        policy_sha256=policy_sha256,
        prev_hash=prev,
        hash="",
    )
    record.hash = record_hash(record_body(record))
    session.add(record)
    session.flush()
    session.info[_HEAD] = (_locked_in(session), record.seq, record.hash)
    return record


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditRecord)) or 0
