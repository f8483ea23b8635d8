"""Signed checkpoints of the audit log, and rotation of the key that signs them.

A checkpoint is a C2SP-style signed note over (origin, size, chain head, time); see
docs/audit.md. Checkpoints are not audit records (signing one would change the head it signs);
they live in their own append-only table, and are signed also when nothing happened, so a
silent gap is visible.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn

from flask import current_app
from sqlalchemy import func, select

from gate.audit.keys import (
    PRIVATE_FILE,
    SignedHead,
    SigningKey,
    create_key,
    install_key,
    load_key,
    load_signed_head,
    new_key,
    public_keys,
    retire_key,
    save_signed_head,
    sign_note,
    signer_lock,
)
from gate.audit.verify import GENESIS, parse_checkpoint, public_key_raw, record_hash, signed_by
from gate.errors import GateError
from gate.server.config import audit_key_dir
from gate.server.extensions import db
from gate.server.models import AuditCheckpoint, AuditRecord
from gate.server.services import ServiceError, audit
from gate.server.services.actor import SYSTEM, Actor

DEFAULT_ORIGIN = "gate-audit"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_ALERT = "gate.audit_alert"
ALERT_FILE = "audit-alert.txt"  # beside the key and the signed head


class AuditAlert(ServiceError):
    """The log in the database is not the one the signer signed; nothing is signed or exported."""

    status = 503


def raise_alert(problem: str) -> NoReturn:
    """Log it, keep it for the admins' banner, and refuse. It cannot be an audit record: the
    log it would be appended to is the one that cannot be trusted. It is kept beside the
    signed head too, so every worker process shows it, and a restart does not forget it."""
    message = (
        f"AUDIT LOG ALERT: {problem}. gate refuses to sign checkpoints or export the audit log "
        "until the database is restored from a backup that matches the signed head "
        f"({key_directory() / 'signed-head.json'}); see docs/audit.md"
    )
    current_app.logger.error("gate: %s", message)
    path = key_directory() / ALERT_FILE
    try:
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.write_text(message + "\n", encoding="utf-8")
        temporary.replace(path)
    except OSError as exc:  # the log line and this process's banner still say it
        current_app.logger.error("gate: could not keep the audit alert in %s: %s", path, exc)
        current_app.extensions[_ALERT] = message
    raise AuditAlert(message)


def current_alert() -> str | None:
    """The alert any process raised (this one's alone if it could not keep it in the key
    directory), until a later check of the log passes."""
    try:
        kept = (key_directory() / ALERT_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        kept = ""
    return kept or current_app.extensions.get(_ALERT)


def _clear_alert() -> None:
    current_app.extensions.pop(_ALERT, None)
    with contextlib.suppress(FileNotFoundError):
        (key_directory() / ALERT_FILE).unlink()


def key_directory() -> Path:
    return audit_key_dir(current_app.config.get("GATE_AUDIT_KEY_DIR"))


def log_origin() -> str:
    """The log's name in every checkpoint: GATE_AUDIT_ORIGIN (set it once, never change it)."""
    origin = current_app.config.get("GATE_AUDIT_ORIGIN") or DEFAULT_ORIGIN
    if " " in origin or "+" in origin or "\n" in origin:
        raise ServiceError("GATE_AUDIT_ORIGIN must not contain spaces, '+' or newlines")
    return origin


def signing_key() -> SigningKey:
    """The current key. The first key is created (and recorded in the log) only when the log
    has never had one; a key that has gone missing stops signing instead of being replaced,
    since a replacement would be a key no auditor was ever given."""
    directory = key_directory()
    key = load_key(directory)
    if key is not None:
        return key
    audit.lock()  # one process creates the first key and records it
    key = load_key(directory)
    if key is not None:
        db.session.commit()
        return key
    created = db.session.scalar(
        select(AuditRecord.seq).where(AuditRecord.action == "audit.key_created").limit(1)
    )
    if created is not None or load_signed_head(directory) is not None:
        db.session.rollback()
        raise_alert(
            f"the audit signing key {directory / PRIVATE_FILE} is missing, but the log recorded "
            f"its creation (seq {created}); gate will not replace it with a new key. Restore the "
            "key directory from a backup"
        )
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


def note_digest(note: str) -> str:
    return hashlib.sha256(note.encode("utf-8")).hexdigest()


def _bootstrap_head(directory: Path) -> SignedHead | None:
    """For a key directory that has no signed head yet (an install from before it was kept):
    the largest stored checkpoint that one of this directory's keys really signed."""
    keys = [public_key_raw(pem) for pem in public_keys(directory).values()]
    rows = db.session.scalars(
        select(AuditCheckpoint)
        .order_by(AuditCheckpoint.size.desc(), AuditCheckpoint.id.desc())
        .limit(100)
    )
    for row in rows:
        try:
            parsed = parse_checkpoint(f"checkpoint {row.id}", row.note)
        except ValueError:
            continue
        if signed_by(parsed.note, keys)[0] and (parsed.size, parsed.head) == (row.size, row.head):
            return SignedHead(row.origin, row.size, row.head, note_digest(row.note), row.created_at)
    return None


def _checked_head(remembered: SignedHead | None) -> tuple[int, str]:
    """Recompute the whole chain from the records' contents, and the size and head it ends in.

    Raises the alert unless every record links to the one before and hashes to its stored hash,
    the chain extends the remembered head (same hash at the same size: nothing rewritten, nothing
    cut off), and the checkpoint that head came from is still stored.
    """
    size, running = 0, GENESIS
    rows = db.session.scalars(
        select(AuditRecord).order_by(AuditRecord.seq).execution_options(yield_per=1000)
    )
    try:  # an alert stops the walk midway: close the (server-side, on PostgreSQL) cursor
        for record in rows:
            if record.seq != size + 1:
                raise_alert(f"records {size + 1}..{record.seq - 1} are missing from audit_log")
            if record.prev_hash != running:
                raise_alert(f"record seq {record.seq} does not link to record seq {size}")
            computed = record_hash(audit.record_body(record))
            if computed != record.hash:
                raise_alert(f"record seq {record.seq} was altered after it was written")
            size, running = record.seq, computed
            if remembered is not None and size == remembered.size and running != remembered.head:
                raise_alert(
                    f"the log was rewritten: its chain at seq {size} hashes to {running[:16]}..., "
                    f"but the checkpoint signed at {remembered.time} named "
                    f"{remembered.head[:16]}..."
                )
    finally:
        rows.close()
    if remembered is None:
        return size, running
    if size < remembered.size:
        raise_alert(
            f"the log was truncated: audit_log holds {size} records, but the checkpoint signed "
            f"at {remembered.time} covered {remembered.size} (records {size + 1}.."
            f"{remembered.size} were deleted)"
        )
    if remembered.size == 0 and remembered.head != GENESIS:
        raise_alert("the signed head names records in an empty log")
    stored = db.session.scalars(
        select(AuditCheckpoint.note).where(
            AuditCheckpoint.size == remembered.size, AuditCheckpoint.head == remembered.head
        )
    ).all()
    if not any(note_digest(note) == remembered.note_sha256 for note in stored):
        raise_alert(
            f"the checkpoint signed at {remembered.time} (size {remembered.size}) is missing "
            "from audit_checkpoints: checkpoints were deleted"
        )
    return size, running


def _remembered(directory: Path) -> SignedHead | None:
    try:
        return load_signed_head(directory) or _bootstrap_head(directory)
    except GateError as exc:
        raise_alert(str(exc))


def check_log() -> tuple[int, str]:
    """The size and head of the log, once it is shown to extend the last signed checkpoint."""
    directory = key_directory()
    with signer_lock(directory):
        checked = _checked_head(_remembered(directory))
    _clear_alert()
    return checked


def create_checkpoint(keys: list[SigningKey] | None = None) -> AuditCheckpoint:
    """Sign the current head (with the current key unless ``keys`` are given) and store it,
    after checking that it extends the head signed last (kept beside the key, not in the
    database), which it then replaces."""
    keys = keys or [signing_key()]
    directory = key_directory()
    origin = log_origin()
    with signer_lock(directory):
        size, head_hash = _checked_head(_remembered(directory))
        created = _now()
        text = (
            f"{origin}\n{size}\n{base64.b64encode(bytes.fromhex(head_hash)).decode()}\n"
            f"time {created}\n"
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
        save_signed_head(
            directory, SignedHead(origin, size, head_hash, note_digest(checkpoint.note), created)
        )
    _clear_alert()
    return checkpoint


def checkpoint_page(before: int | None, limit: int) -> list[AuditCheckpoint]:
    """Signed checkpoints, newest first: ``limit`` of them with ids below ``before``."""
    query = select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditCheckpoint.id < before)
    return list(db.session.scalars(query))


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
