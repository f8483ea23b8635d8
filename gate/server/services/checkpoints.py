"""Signed checkpoints of the audit log, and rotation of the key that signs them.

A checkpoint is a C2SP-style signed note over (origin, size, chain head, time); see
docs/audit.md. Checkpoints are not audit records (signing one would change the head it signs);
they live in their own append-only table, and are signed also when nothing happened, so a
silent gap is visible.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import func, select

from gate.audit.keys import (
    SigningKey,
    create_key,
    install_key,
    load_key,
    new_key,
    retire_key,
    sign_note,
)
from gate.audit.verify import GENESIS
from gate.server.config import audit_key_dir
from gate.server.extensions import db
from gate.server.models import AuditCheckpoint, AuditRecord
from gate.server.services import ServiceError, audit
from gate.server.services.actor import SYSTEM, Actor

DEFAULT_ORIGIN = "gate-audit"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def key_directory() -> Path:
    return audit_key_dir(current_app.config.get("GATE_AUDIT_KEY_DIR"))


def log_origin() -> str:
    """The log's name in every checkpoint: GATE_AUDIT_ORIGIN (set it once, never change it)."""
    origin = current_app.config.get("GATE_AUDIT_ORIGIN") or DEFAULT_ORIGIN
    if " " in origin or "+" in origin or "\n" in origin:
        raise ServiceError("GATE_AUDIT_ORIGIN must not contain spaces, '+' or newlines")
    return origin


def signing_key() -> SigningKey:
    """The current key; created on first use, which is recorded in the audit log."""
    directory = key_directory()
    key = load_key(directory)
    if key is None:
        key = create_key(directory)
        audit.append(
            "audit.key_created",
            actor=SYSTEM,
            subject={"key": key.described(), "origin": log_origin()},
        )
        db.session.commit()
    return key


def _now() -> str:
    return datetime.now(UTC).strftime(TIME_FORMAT)


def create_checkpoint(keys: list[SigningKey] | None = None) -> AuditCheckpoint:
    """Sign the current head (with the current key unless ``keys`` are given) and store it."""
    keys = keys or [signing_key()]
    head = db.session.execute(
        select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)
    ).first()
    size, head_hash = (head[0], head[1]) if head else (0, GENESIS)
    origin, created = log_origin(), _now()
    text = (
        f"{origin}\n{size}\n{base64.b64encode(bytes.fromhex(head_hash)).decode()}\ntime {created}\n"
    )
    checkpoint = AuditCheckpoint(
        created_at=created,
        origin=origin,
        size=size,
        head=head_hash,
        key_fingerprints=" ".join(k.fingerprint for k in keys),
        note=sign_note(text, origin, keys),
    )
    db.session.add(checkpoint)
    db.session.commit()
    return checkpoint


def latest_checkpoint() -> AuditCheckpoint | None:
    return db.session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1))


def maybe_checkpoint(period_seconds: int) -> AuditCheckpoint | None:
    """A new checkpoint if the last one is older than the period (or there is none)."""
    last = db.session.scalar(select(func.max(AuditCheckpoint.created_at)))
    due = (datetime.now(UTC) - timedelta(seconds=period_seconds)).strftime(TIME_FORMAT)
    if last is not None and last > due:
        return None
    return create_checkpoint()


def rotate_key(actor: str = "system", actor_auth: str = "cli") -> tuple[SigningKey, SigningKey]:
    """Replace the signing key, as an audited event the old and the new key both sign.

    1. a checkpoint signed by the old key covers everything before the rotation;
    2. the ``audit.key_rotated`` record names both keys;
    3. a checkpoint signed by both keys covers that record, so trust passes either way;
    4. the new key replaces the old one on disk; the old public key is kept under retired/.
    """
    old = signing_key()
    create_checkpoint([old])
    new = new_key()
    audit.append(
        "audit.key_rotated",
        actor=Actor(actor, actor_auth),
        subject={"old_key": old.described(), "new_key": new.described(), "origin": log_origin()},
    )
    db.session.commit()
    create_checkpoint([old, new])
    directory = key_directory()
    retire_key(directory, old)
    install_key(directory, new)
    return old, new
