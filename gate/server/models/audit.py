"""The audit log: append-only, hash-chained records, and the signed checkpoints over them
(kept in a table of their own: signing one must not change the head it signs)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gate.server.models.base import Model


class AuditRecord(Model):
    """One append-only, hash-chained audit event. Never updated or deleted."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    schema: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[str] = mapped_column(String(40))  # RFC 3339 UTC, as hashed
    actor: Mapped[str] = mapped_column(String(320))
    actor_auth: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(60), index=True)
    subject: Mapped[dict[str, Any]] = mapped_column(JSON)
    policy_sha256: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditCheckpoint(Model):
    """One signed checkpoint of the audit log (a C2SP-style signed note). Append-only too."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[str] = mapped_column(String(40), index=True)  # RFC 3339 UTC, as signed
    origin: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer, index=True)  # records covered: seq 1..size
    head: Mapped[str] = mapped_column(String(64))  # hash of record `size` (GENESIS when 0)
    key_fingerprints: Mapped[str] = mapped_column(String(200))  # space-separated, signing keys
    note: Mapped[str] = mapped_column(Text)  # the signed note, exactly as exported
