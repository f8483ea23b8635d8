"""Reading a request on its page: "viewed" ticks, line comments, more context around a hunk.

Every action is a form post with its CSRF token (Flask-WTF) and works without JavaScript (the
page is drawn again at the file); the page's script sends the same forms with ``fetch`` and
asks for JSON (``X-Requested-With: fetch``), so a tick does not reload the page. More context
is read only from the blobs the hook sent for this request, verified by their ids when it was
held (gate.models.HeldBlob), never from anywhere else.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, url_for
from flask import request as http
from flask_login import current_user
from sqlalchemy import select

from gate.server.extensions import db
from gate.server.models import ApprovalRequest, HeldBlob, HeldItem
from gate.server.services import NotFound, ServiceError
from gate.server.services.decisions import attested_sha256, get_request
from gate.server.services.reading import (
    add_comment,
    delete_draft,
    request_files,
    set_viewed,
    viewed_ticks,
)
from gate.server.web import require_role, row_id
from gate.server.web.diffview import (
    CONTEXT_SHOWN,
    context_lines,
    hidden_before,
    highlight_css,
    hunks_of,
    split_rows,
)
from gate.server.web.forms import LineCommentForm, ViewedForm

bp = Blueprint("reading", __name__)

VIEWS = ("unified", "split")
_VIEW_KEY = "gate_diff_view"


def diff_view_mode() -> str:
    """The diff layout this reviewer asked for (``?view=``), remembered in their session."""
    from flask import session

    asked = http.args.get("view", "")
    if asked in VIEWS:
        session[_VIEW_KEY] = asked
        return asked
    kept = session.get(_VIEW_KEY)
    return kept if kept in VIEWS else "unified"


def _wants_json() -> bool:
    return http.headers.get("X-Requested-With") == "fetch"


def _back(request_id: int, page: int | None, anchor: str = "") -> Any:
    target = url_for(
        "review.detail", request_id=request_id, page=page if page and page > 1 else None
    )
    return redirect(target + (f"#{anchor}" if anchor else ""))


def _refusal(exc: ServiceError, request_id: int, page: int | None, anchor: str = "") -> Any:
    db.session.rollback()
    if _wants_json():
        return jsonify({"error": str(exc)}), exc.status
    flash(str(exc), "error")
    return _back(request_id, page, anchor)


def viewed_progress(request: ApprovalRequest, reviewer: Any, attested: str) -> dict[str, Any]:
    """How many of the request's files (and guarded files) this reviewer ticked, and which
    guarded ones are left: what the page shows above the diffs and by the decision form."""
    files = request_files(request)
    ticked = viewed_ticks(request, reviewer, attested)
    guarded = [f for f in files if f.guarded]
    return {
        "ticked": set(ticked),
        "viewed": sum(f.file_key in ticked for f in files),
        "files": len(files),
        "guarded_viewed": sum(f.file_key in ticked for f in guarded),
        "guarded": len(guarded),
        "unviewed": [f.label for f in guarded if f.file_key not in ticked],
    }


@bp.post("/requests/<id:request_id>/viewed")
@require_role()
def viewed(request_id: int):  # type: ignore[no-untyped-def]
    form = ViewedForm()
    if not form.validate_on_submit():
        if _wants_json():
            return jsonify({"error": "the tick was not recorded: the form was not valid"}), 400
        abort(400)
    page = form.page.data
    try:
        request = get_request(request_id)
        attested = attested_sha256(request)
        found = set_viewed(
            request, current_user, form.item.data, form.path.data, form.viewed.data == "1", attested
        )
    except ServiceError as exc:
        return _refusal(exc, request_id, page)
    if _wants_json():
        progress = viewed_progress(request, current_user, attested)
        return jsonify(
            {
                **{k: v for k, v in progress.items() if k != "ticked"},
                "ticked": found.file_key in progress["ticked"],
                "file_key": found.file_key,
            }
        )
    return _back(request_id, page, f"file-{found.file_key[:16]}")


@bp.post("/requests/<id:request_id>/comments")
@require_role()
def comment(request_id: int):  # type: ignore[no-untyped-def]
    form = LineCommentForm()
    page = form.page.data if isinstance(form.page.data, int) else None
    if not form.validate_on_submit():
        problems = "; ".join(e for errors in form.errors.values() for e in errors)
        flash(f"The comment was not kept: {problems or 'the form was not valid'}", "error")
        return _back(request_id, page)
    try:
        request = get_request(request_id)
        added = add_comment(
            request,
            current_user,
            form.item.data,
            form.path.data,
            form.side.data,
            form.line.data,
            form.text.data or "",
        )
    except ServiceError as exc:
        return _refusal(exc, request_id, page)
    flash(
        f"Your comment on line {added.line} of {added.path[:200]} is kept as a draft; it goes "
        "with your decision.",
        "ok",
    )
    return _back(request_id, page, f"comment-{added.id}")


@bp.get("/requests/<id:request_id>/comment")
@require_role()
def comment_page(request_id: int):  # type: ignore[no-untyped-def]
    """The line comment form for one file, for browsers without JavaScript (with it, the
    request's page moves the same form under the line clicked)."""
    try:
        request = get_request(request_id)
    except ServiceError:
        abort(404)
    item_id = row_id(http.args.get("item", ""))
    path = http.args.get("path", "")
    known = any(f.item_id == item_id and f.path == path for f in request_files(request))
    problem = "" if known else "Choose a file's “Comment on a line” link on the request's page."
    if known and request.state != "pending":
        problem = f"Request {request.id} is {request.state}: it takes no more comments."
    return render_template(
        "review/comment.html",
        req=request,
        item_id=item_id,
        path=path,
        page=row_id(http.args.get("page", "")) or 1,
        problem=problem,
    )


@bp.post("/requests/<id:request_id>/comments/<id:comment_id>/delete")
@require_role()
def delete_comment(request_id: int, comment_id: int):  # type: ignore[no-untyped-def]
    from gate.server.web.forms import ActionForm

    if not ActionForm().validate_on_submit():
        abort(400)
    page = row_id(http.form.get("page", ""))
    try:
        delete_draft(get_request(request_id), current_user, comment_id)
    except ServiceError as exc:
        return _refusal(exc, request_id, page)
    flash("Your draft comment was removed.", "ok")
    return _back(request_id, page)


def _file_entry(item: HeldItem, parent: str, path: str) -> dict[str, Any]:
    for diff in item.diffs if isinstance(item.diffs, list) else []:
        if not isinstance(diff, dict) or (diff.get("parent") or "") != parent:
            continue
        for entry in diff.get("files") or []:
            if isinstance(entry, dict) and entry.get("path") == path:
                return entry
    raise NotFound("that commit's diff has no such file")


@bp.get("/requests/<id:request_id>/context")
@require_role()
def context(request_id: int):  # type: ignore[no-untyped-def]
    """The unchanged lines hidden before hunk ``hunk`` of one file (after the last hunk when
    ``hunk`` is their number), read from the verified blob the hook sent."""
    try:
        request = get_request(request_id)
    except ServiceError:
        abort(404)
    mode = diff_view_mode()
    item_id = row_id(http.args.get("item", ""))
    path = http.args.get("path", "")
    hunk = http.args.get("hunk", "")
    lines: list[Any] = []
    problem = ""
    item = next((i for i in request.items if i.id == item_id), None)
    if item is None or not path or not (hunk.isascii() and hunk.isdigit() and len(hunk) <= 6):
        problem = "Choose a hunk's “show hidden lines” link on the request's page."
    else:
        try:
            lines, problem = _hidden_lines(
                request, item, http.args.get("parent", ""), path, int(hunk)
            )
        except NotFound as exc:
            problem = str(exc)
    if http.args.get("fragment") == "1":
        if problem:
            return jsonify({"error": problem}), 404
        return render_template(
            "review/_context_rows.html", lines=lines, mode=mode, split=split_rows
        )
    return render_template(
        "review/context.html",
        req=request,
        path=path,
        lines=lines,
        problem=problem,
        mode=mode,
        split=split_rows,
        highlight_css=highlight_css(),
    )


def _hidden_lines(
    request: ApprovalRequest, item: HeldItem, parent: str, path: str, hunk: int
) -> tuple[list[Any], str]:
    entry = _file_entry(item, parent, path)
    patch = entry.get("patch")
    hunks = hunks_of(patch) if isinstance(patch, str) else []
    if not hunks or hunk > len(hunks):
        return [], "That hunk is not in this file's diff."
    side = "old_id" if entry.get("status") == "deleted" else "new_id"
    blob = db.session.scalar(
        select(HeldBlob.data).where(
            HeldBlob.request_id == request.id, HeldBlob.oid == str(entry.get(side, ""))
        )
    )
    if blob is None:
        return [], (
            "More context is not available for this file: the hook did not send its content, "
            "or it is binary or over 1 MiB, or the request was held before gate kept content."
        )
    first, last, shift = hidden_before(hunks, hunk)
    if hunk == len(hunks):
        last = first + CONTEXT_SHOWN - 1
    else:
        first = max(first, last - CONTEXT_SHOWN + 1)
    text = blob.decode("utf-8", errors="replace")
    found = context_lines(path, text, first, last, shift)
    return found, "" if found else "No lines are hidden there."
