"""Audit tables beside the log itself (gate.server.models.core.AuditRecord): signed checkpoints."""

from __future__ import annotations

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gate.server.models.base import Model


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
