"""What a reviewer does while reading a request: ticks files as viewed, comments on lines.

Viewed ticks are kept per reviewer and per version of the request (its attested SHA-256, the
hash an approval binds): an approval is refused until every guarded file of the request has a
tick of that reviewer for that version (``unviewed_guarded``, called by
gate.server.services.decisions.decide, so a forged POST cannot skip it). A file is one path of
one held item (``file_key``): a merge's two diffs of a path are one file. Ticks are not audit
records of their own: a tick changes nothing a push or the verifier depends on, and an
append-only record per click would outgrow the decisions; the approval's audit record names the
files its reviewer had ticked, with the time of each tick (``decision.approve``'s
``viewed_files``).

Line comments are drafts until their author records a decision on the request; the decision
then carries them (its audit record's ``line_comments``), and a denial's comments travel to the
agent in the hold answer and the request status (gate.wire.line_comment).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select

from gate import wire
from gate.server.diffs import file_guards, stored_guards
from gate.server.extensions import db
from gate.server.models import (
    DECIDING_ROLES,
    ApprovalRequest,
    Decision,
    HeldItem,
    LineComment,
    User,
    ViewedFile,
)
from gate.server.services import Conflict, Forbidden, NotFound, ServiceError

SIDES = ("old", "new")


@dataclass(frozen=True)
class ReviewFile:
    """One file of a held item's diff, as ticks name it."""

    item_id: int
    key: str  # the item's key (commit id)
    path: str
    guarded: bool

    @property
    def file_key(self) -> str:
        return file_key(self.key, self.path)

    @property
    def label(self) -> str:
        """How refusals and the page name it: ``path (commit)``."""
        return f"{self.path} ({self.key[:12]})"


def file_key(item_key: str, path: str) -> str:
    text = f"{item_key} {path}".encode("utf-8", errors="surrogatepass")
    return hashlib.sha256(text).hexdigest()


def _entries(item: HeldItem) -> list[tuple[str, str | None]]:
    """(path, old path) of every file in an item's stored diffs, read defensively."""
    found = []
    for diff in item.diffs if isinstance(item.diffs, list) else []:
        files = diff.get("files") if isinstance(diff, dict) else None
        for entry in files if isinstance(files, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                old = entry.get("old_path")
                found.append((entry["path"], old if isinstance(old, str) else None))
    return found


def request_files(request: ApprovalRequest) -> list[ReviewFile]:
    """Every file of the request, each once, guarded ones first (in item order)."""
    seen: dict[str, ReviewFile] = {}
    for item in request.items:
        guard_paths = {g: set(p) for g, p in stored_guards(item.guards).items()}
        for path, old_path in _entries(item):
            found = ReviewFile(
                item.id, item.key, path, bool(file_guards(path, old_path, guard_paths))
            )
            known = seen.get(found.file_key)
            if known is None or (found.guarded and not known.guarded):
                seen[found.file_key] = found
    files = list(seen.values())
    return [f for f in files if f.guarded] + [f for f in files if not f.guarded]


def viewed_ticks(request: ApprovalRequest, reviewer: User, attested: str) -> dict[str, datetime]:
    """file_key -> when ``reviewer`` ticked it, for this version of the request."""
    return {
        key: at
        for key, at in db.session.execute(
            select(ViewedFile.file_key, ViewedFile.created_at).where(
                ViewedFile.request_id == request.id,
                ViewedFile.reviewer_id == reviewer.id,
                ViewedFile.attested_sha256 == attested,
            )
        )
    }


def unviewed_guarded(request: ApprovalRequest, reviewer: User, attested: str) -> list[str]:
    """The guarded files ``reviewer`` has not ticked for this version, as "path (commit)"."""
    ticked = viewed_ticks(request, reviewer, attested)
    return [f.label for f in request_files(request) if f.guarded and f.file_key not in ticked]


def viewed_record(request: ApprovalRequest, reviewer: User, attested: str) -> list[dict[str, str]]:
    """The ticked files for an approval's audit record: key, path, time of the tick."""
    ticked = viewed_ticks(request, reviewer, attested)
    return [
        {"key": f.key, "path": f.path, "at": _utc_text(ticked[f.file_key])}
        for f in request_files(request)
        if f.file_key in ticked
    ]


def _utc_text(moment: datetime) -> str:
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_reader(request: ApprovalRequest, reviewer: User) -> None:
    if not reviewer.active or reviewer.role not in DECIDING_ROLES:
        raise Forbidden("only active reviewers can review requests")
    if request.state != "pending":
        raise Conflict(f"request {request.id} is already {request.state}")


def _file_of(request: ApprovalRequest, item_id: int, path: str) -> ReviewFile:
    for found in request_files(request):
        if found.item_id == item_id and found.path == path:
            return found
    raise NotFound(f"request {request.id} has no file {path[:200]!r} in that commit")


def set_viewed(
    request: ApprovalRequest, reviewer: User, item_id: int, path: str, viewed: bool, attested: str
) -> ReviewFile:
    """Tick (or untick) one file as viewed by ``reviewer`` for this version of the request."""
    _check_reader(request, reviewer)
    found = _file_of(request, item_id, path)
    condition = (
        ViewedFile.request_id == request.id,
        ViewedFile.reviewer_id == reviewer.id,
        ViewedFile.file_key == found.file_key,
        ViewedFile.attested_sha256 == attested,
    )
    exists = db.session.scalar(select(ViewedFile.id).where(*condition))
    if viewed and exists is None:
        db.session.add(
            ViewedFile(
                request_id=request.id,
                reviewer_id=reviewer.id,
                item_id=found.item_id,
                path=found.path,
                file_key=found.file_key,
                attested_sha256=attested,
                created_at=datetime.now(UTC),
            )
        )
        db.session.flush()
    elif not viewed and exists is not None:
        db.session.execute(delete(ViewedFile).where(*condition))
    return found


def add_comment(
    request: ApprovalRequest,
    reviewer: User,
    item_id: int,
    path: str,
    side: str,
    line: int,
    body: str,
) -> LineComment:
    """A draft comment of ``reviewer`` on one line of one file (``side``: old or new)."""
    _check_reader(request, reviewer)
    body = body.strip()
    if side not in SIDES:
        raise ServiceError("a comment is on the old or the new side of a file")
    if not 1 <= line <= wire.MAX_LINE_NUMBER:
        raise ServiceError(f"line numbers run from 1 to {wire.MAX_LINE_NUMBER}")
    if not body:
        raise ServiceError("a comment needs some text")
    if len(body) > wire.COMMENT_LEN:
        raise ServiceError(f"a line comment is limited to {wire.COMMENT_LEN:,} characters")
    found = _file_of(request, item_id, path)
    drafts = db.session.scalar(
        select(func.count(LineComment.id)).where(
            LineComment.request_id == request.id,
            LineComment.reviewer_id == reviewer.id,
            LineComment.decision_id.is_(None),
        )
    )
    if (drafts or 0) >= wire.MAX_LINE_COMMENTS:
        raise ServiceError(
            f"at most {wire.MAX_LINE_COMMENTS} line comments go with one decision; "
            "say the rest in the decision's comment"
        )
    comment = LineComment(
        request_id=request.id,
        reviewer_id=reviewer.id,
        item_id=found.item_id,
        path=found.path,
        side=side,
        line=line,
        body=body,
        created_at=datetime.now(UTC),
    )
    db.session.add(comment)
    db.session.flush()
    return comment


def delete_draft(request: ApprovalRequest, reviewer: User, comment_id: int) -> None:
    """Take back one's own draft comment (one attached to a decision stays)."""
    _check_reader(request, reviewer)
    removed = db.session.execute(
        delete(LineComment).where(
            LineComment.id == comment_id,
            LineComment.request_id == request.id,
            LineComment.reviewer_id == reviewer.id,
            LineComment.decision_id.is_(None),
        )
    )
    if not getattr(removed, "rowcount", 0):
        raise NotFound("you have no draft comment of that number on this request")


def attach_drafts(
    request: ApprovalRequest, reviewer: User, decision: Decision
) -> list[LineComment]:
    """The reviewer's drafts become part of their decision; returned in order."""
    drafts = list(
        db.session.scalars(
            select(LineComment)
            .where(
                LineComment.request_id == request.id,
                LineComment.reviewer_id == reviewer.id,
                LineComment.decision_id.is_(None),
            )
            .order_by(LineComment.id)
        )
    )
    for draft in drafts:
        draft.decision_id = decision.id
    db.session.flush()
    return drafts


def comment_record(comments: list[LineComment], keys: dict[int, str]) -> list[dict[str, Any]]:
    """Line comments as an audit record and the wire carry them (``keys``: item id -> key)."""
    return [
        wire.line_comment(keys.get(c.item_id, ""), c.path, c.side, c.line, c.body) for c in comments
    ]


def decision_comments(decision_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The line comments of each decision, in order, as the wire carries them: one statement
    for all, reading the items' keys only (never their diffs)."""
    found: dict[int, list[dict[str, Any]]] = {}
    if not decision_ids:
        return found
    for comment, key in db.session.execute(
        select(LineComment, HeldItem.key)
        .join(HeldItem, HeldItem.id == LineComment.item_id)
        .where(LineComment.decision_id.in_(decision_ids))
        .order_by(LineComment.id)
    ):
        found.setdefault(comment.decision_id or 0, []).append(
            wire.line_comment(key, comment.path, comment.side, comment.line, comment.body)
        )
    return found


def shown_comments(request: ApprovalRequest, reader: User) -> list[tuple[LineComment, User]]:
    """What the page shows, with each comment's author: every comment kept with a decision,
    and the reader's own drafts."""
    return [
        (comment, author)
        for comment, author in db.session.execute(
            select(LineComment, User)
            .join(User, User.id == LineComment.reviewer_id)
            .where(
                LineComment.request_id == request.id,
                (LineComment.decision_id.is_not(None)) | (LineComment.reviewer_id == reader.id),
            )
            .order_by(LineComment.id)
        )
    ]
