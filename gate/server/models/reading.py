"""What a reviewer does while reading a request: files ticked as viewed, comments on lines,
and the verified blobs the page expands context from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gate.server.models.base import Model, utcnow


class ViewedFile(Model):
    """One file of a held item that a reviewer ticked as viewed, for one version of the
    request: ``attested_sha256`` is the request's attested hash when the tick was given, so a
    tick counts only for the content it was given on."""

    __tablename__ = "viewed_files"
    __table_args__ = (
        Index(
            "uq_viewed_files_tick",
            "request_id",
            "reviewer_id",
            "file_key",
            "attested_sha256",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE"), index=True
    )
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("held_items.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(Text)
    # SHA-256 of "<item key> <path>": a bounded key for the unique index (paths are Text).
    file_key: Mapped[str] = mapped_column(String(64))
    attested_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LineComment(Model):
    """A reviewer's comment on one line of a held file. A draft (no decision yet) is shown to
    its author; recording a decision attaches the drafts to it, and its audit record carries
    them."""

    __tablename__ = "line_comments"
    __table_args__ = (Index("ix_line_comments_request_reviewer", "request_id", "reviewer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("held_items.id", ondelete="CASCADE"))
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id"), index=True)
    path: Mapped[str] = mapped_column(Text)
    side: Mapped[str] = mapped_column(String(3))  # old | new
    line: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class HeldBlob(Model):
    """A blob the hook sent for a held request, verified by its id (gate.server.content): the
    only source the page reads more context lines from."""

    __tablename__ = "held_blobs"
    __table_args__ = (Index("uq_held_blobs_request_oid", "request_id", "oid", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"))
    oid: Mapped[str] = mapped_column(String(40))
    data: Mapped[bytes] = mapped_column(LargeBinary)
