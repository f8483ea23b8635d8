"""The approval queue, a request's page, the decision form and withdrawal of an approval."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    session,
    url_for,
)
from flask import request as http
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy.exc import SQLAlchemyError

from gate.server.database import transaction
from gate.server.extensions import db
from gate.server.models import DECIDING_ROLES, ApprovalRequest, HeldItem
from gate.server.services import Conflict, Forbidden, ServiceError, webauthn
from gate.server.services.decisions import (
    StepUpFailed,
    approval_refusal,
    attestation_for,
    conflicts_of_interest,
    decide,
    get_request,
    ineligible_guards,
    may_override,
    operators,
    record_step_up_failure,
    withdraw_approval,
)
from gate.server.services.progress import approvers, eligibility_rules, guard_progress
from gate.server.services.queue import (
    QueueFilters,
    Waiting,
    filter_options,
    search_requests,
    waiting_on,
)
from gate.server.services.reading import file_key, shown_comments
from gate.server.services.rereview import compare_with_superseded
from gate.server.web import require_role, row_id, shows_refusals, web_actor
from gate.server.web.account import APPROVE_SESSION, relying_party, take_pending
from gate.server.web.diffview import (
    FileView,
    Hunk,
    Line,
    diff_views,
    hidden_before,
    highlight_css,
    hunks_of,
    split_rows,
    stored_guards,
    stored_signals,
    visible_text,
)
from gate.server.web.forms import ActionForm, DecisionForm
from gate.server.web.reading import diff_view_mode, viewed_progress
from gate.server.web.requestpage import MESSAGE_SHOWN, SIGNALS_SHOWN, request_page

bp = Blueprint("review", __name__)


@bp.app_template_filter("age")
def age(moment: datetime | None) -> str:
    """How long ago, coarsely: '40s', '12m', '5h', '3d'."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = max(0, int((datetime.now(UTC) - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


REREVIEW_SHOWN = 200  # commits listed in "since request #N" (the counts cover all)
WAITING_SHOWN = 20  # requests listed under "Waiting on you" on the queue page
_WAITING = "gate_waiting"


def _waiting() -> Waiting:
    """The requests waiting on the logged-in user, read once per HTTP request."""
    from flask import g

    found = g.get(_WAITING)
    if found is None:
        found = waiting_on(current_user)
        setattr(g, _WAITING, found)
    return found


@bp.app_context_processor
def waiting_count() -> dict[str, Any]:
    """How many requests wait on the logged-in reviewer, for the navigation bar."""
    if current_user.is_authenticated and current_user.role in DECIDING_ROLES:
        try:
            return {"waiting_count": _waiting().count}
        except SQLAlchemyError:  # a page about the database's trouble still renders
            pass
    return {"waiting_count": None}


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    return redirect(url_for("review.queue"))


@bp.get("/requests")
@require_role()
def queue():  # type: ignore[no-untyped-def]
    filters = QueueFilters.from_args(http.args)
    page_number = http.args.get("page", 1, type=int) or 1
    per_page = int(current_app.config["GATE_QUEUE_PAGE_SIZE"])
    page = search_requests(filters, page_number, per_page)
    rules = eligibility_rules()
    waiting = _waiting()
    return render_template(
        "review/queue.html",
        waiting=waiting,
        waiting_shown=WAITING_SHOWN,
        waiting_progress={r.id: guard_progress(r, rules) for r in waiting.requests[:WAITING_SHOWN]},
        page=page,
        filters=filters,
        options=filter_options(),
        progress={r.id: guard_progress(r, rules) for r in page.requests},
    )


@bp.get("/requests/<id:request_id>")
@require_role()
def detail(request_id: int):  # type: ignore[no-untyped-def]
    return _render_detail(request_id, DecisionForm(), page=row_id(http.args.get("page", "")) or 1)


def _render_detail(request_id: int, form: DecisionForm, status: int = 200, page: int = 1):  # type: ignore[no-untyped-def]
    try:
        req = get_request(request_id)
    except ServiceError:
        abort(404)
    rules = eligibility_rules()
    mine = [
        d
        for d in req.decisions
        if d.reviewer_id == current_user.id and d.verdict == "approve" and d.withdrawn_at is None
    ]
    shown = {item.id: _shown_item(item) for item in req.items}
    attestation = attestation_for(req)
    viewed = viewed_progress(req, current_user, attestation.sha256)
    previous_request, next_request = _neighbours(req.id)
    signals: dict[tuple[str, ...], dict[str, str]] = {}
    guard_paths: dict[str, dict[str, None]] = {}  # guard -> its paths, in order, each once
    for item in shown.values():
        for signal in item["signals"]:
            signals.setdefault(tuple(sorted(signal.values())), signal)
        for guard, paths in item["guards"].items():
            guard_paths.setdefault(guard, {}).update(dict.fromkeys(paths))
    return (
        render_template(
            "review/detail.html",
            signals=list(signals.values()),
            message_shown=MESSAGE_SHOWN,
            signals_shown=SIGNALS_SHOWN,
            guard_paths={guard: list(paths) for guard, paths in guard_paths.items()},
            req=req,
            form=form,
            action_form=ActionForm(),
            progress=guard_progress(req, rules),
            approvers=approvers(req),
            conflicts=conflicts_of_interest(req, current_user),
            may_override=may_override(req, current_user),
            ineligible=ineligible_guards(req, current_user, rules),
            operators=sorted(operators(req)),
            attestation=attestation,
            viewed=viewed,
            rv=_reader_state(req, page, viewed),
            previous_request=previous_request,
            next_request=next_request,
            webauthn_guards=webauthn.needs_webauthn(req),
            has_security_key=bool(webauthn.credentials_of(current_user)),
            my_approval=mine[0] if mine else None,
            shown=shown,
            page=request_page(
                req.items,
                [diff_views(item.diffs, item.guards, highlight=False) for item in req.items],
                page,
            ),
            highlight_css=highlight_css(),
            rereview=compare_with_superseded(req),
            rereview_shown=REREVIEW_SHOWN,
        ),
        status,
    )


@dataclass
class ShownComment:
    id: int
    reviewer_name: str
    side: str
    line: int
    path: str
    item_id: int
    key: str
    decision_id: int | None
    html: Markup

    @property
    def draft(self) -> bool:
        return self.decision_id is None


@dataclass
class ReaderState:
    """What the page needs to draw one reader's ticks, comments and chosen diff layout."""

    request_id: int
    pending: bool
    page: int
    mode: str
    ticked: set[str]
    comments: list[ShownComment] = field(default_factory=list)
    _at: dict[tuple[int, str, str, int], list[ShownComment]] = field(default_factory=dict)
    _hunks: dict[int, list[Hunk]] = field(default_factory=dict)  # id(FileView) -> its hunks

    def __post_init__(self) -> None:
        for c in self.comments:
            self._at.setdefault((c.item_id, c.path, c.side, c.line), []).append(c)

    split = staticmethod(split_rows)

    @property
    def viewed_url(self) -> str:
        return url_for("reading.viewed", request_id=self.request_id)

    def file_key(self, item: HeldItem, f: FileView) -> str:
        return file_key(item.key, f.path)

    def is_viewed(self, key: str) -> bool:
        return key in self.ticked

    def comments_at(
        self, item_id: int, path: str, line: Line | None, side: str | None = None
    ) -> list[ShownComment]:
        """The comments on ``line`` of a file: on the given side, or on whichever sides the
        line has (an unchanged line has both)."""
        if line is None:
            return []
        found: list[ShownComment] = []
        if side in (None, "old") and line.old_no is not None and line.kind != "add":
            found += self._at.get((item_id, path, "old", line.old_no), [])
        if side in (None, "new") and line.new_no is not None and line.kind != "del":
            found += self._at.get((item_id, path, "new", line.new_no), [])
        return found

    def of_decision(self, decision_id: int) -> list[ShownComment]:
        return [c for c in self.comments if c.decision_id == decision_id]

    def drafts(self) -> list[ShownComment]:
        return [c for c in self.comments if c.draft]

    def hunks(self, f: FileView) -> list[Hunk]:
        found = self._hunks.get(id(f))
        if found is None:
            found = self._hunks[id(f)] = hunks_of(f.patch)
        return found

    def hunk_count(self, f: FileView) -> int:
        return len(self.hunks(f))

    def expandable(self, f: FileView, hunk: int) -> bool:
        """Whether unchanged lines are hidden before hunk ``hunk`` (after the last: maybe)."""
        if f.status in ("added", "deleted") or not f.patch:
            return False
        hunks = self.hunks(f)
        if not hunks or hunk > len(hunks):
            return False
        first, last, _ = hidden_before(hunks, hunk)
        return hunk == len(hunks) or first <= last


def _reader_state(req: ApprovalRequest, page: int, progress: dict[str, Any]) -> ReaderState:
    keys = {item.id: item.key for item in req.items}
    comments = [
        ShownComment(
            id=c.id,
            reviewer_name=who.display,
            side=c.side,
            line=c.line,
            path=c.path,
            item_id=c.item_id,
            key=keys.get(c.item_id, ""),
            decision_id=c.decision_id,
            html=visible_text(c.body),
        )
        for c, who in shown_comments(req, current_user)
    ]
    return ReaderState(
        request_id=req.id,
        pending=req.state == "pending" and current_user.role in DECIDING_ROLES,
        page=page,
        mode=diff_view_mode(),
        ticked=progress["ticked"],
        comments=comments,
    )


def _neighbours(request_id: int) -> tuple[int | None, int | None]:
    """The requests before and after this one in the reader's "waiting on me" order (n / p):
    from a request not in it, the first waiting one is next."""
    order = [r.id for r in _waiting().requests]
    if request_id not in order:
        return None, (order[0] if order else None)
    at = order.index(request_id)
    return (order[at - 1] if at else None), (order[at + 1] if at + 1 < len(order) else None)


def _shown_item(item: HeldItem) -> dict[str, Any]:
    """An item's stored JSON as the page shows it, of the right types whatever the row holds."""
    meta = item.meta if isinstance(item.meta, dict) else {}
    removed = meta.get("removed")
    return {
        "signals": stored_signals(item.signals),
        "guards": stored_guards(item.guards),
        "removed": [r for r in removed if isinstance(r, str)] if isinstance(removed, list) else [],
    }


def _refused(exc: ServiceError, request_id: int):  # type: ignore[no-untyped-def]
    return _render_detail(request_id, DecisionForm(), exc.status)


@bp.post("/requests/<id:request_id>/decision")
@require_role()
@shows_refusals(_refused)
def decision(request_id: int):  # type: ignore[no-untyped-def]
    form = DecisionForm()
    if not form.validate_on_submit():
        flash("The decision was not recorded: " + _form_errors(form), "error")
        return _render_detail(request_id, form, 400)
    actor = web_actor()
    request = get_request(request_id)
    pending = take_pending(APPROVE_SESSION, "approve") if webauthn.needs_webauthn(request) else None
    try:
        decide(
            request,
            current_user,
            form.decision.data or "",
            form.comment.data or "",
            actor=actor,
            password=form.password.data or None,
            attest=bool(form.attest.data),
            shown_sha256=form.shown_sha256.data or None,
            address=http.remote_addr,
            webauthn_pending=pending,
            webauthn_response=form.webauthn_response.data or "",
        )
    except StepUpFailed as failure:
        db.session.rollback()
        with transaction():  # kept though the decision is not: see record_step_up_failure
            record_step_up_failure(failure, current_user, request_id, http.remote_addr, actor)
        raise
    flash("Your decision was recorded.", "ok")
    return redirect(url_for("review.detail", request_id=request_id))


@bp.post("/requests/<id:request_id>/webauthn/options")
@require_role()
def webauthn_options(request_id: int):  # type: ignore[no-untyped-def]
    """Start a signed approval: the statement (with the time now) and the options whose
    challenge is its SHA-256, for navigator.credentials.get; the challenge is kept server-side
    and the session names it."""
    if not ActionForm().validate_on_submit():
        return jsonify({"error": "the form expired; reload the page"}), 400
    try:
        req = get_request(request_id)
        if current_user.role not in DECIDING_ROLES:
            raise Forbidden("only reviewers can approve requests")
        if req.state != "pending":
            raise Conflict(f"request {req.id} is already {req.state}")
        refusal = approval_refusal(req, current_user, eligibility_rules())
        if refusal is not None:
            raise refusal
        challenge_id, options, statement = webauthn.assertion_options(
            req,
            current_user,
            attestation_for(req).sha256,
            http.form.get("comment", "")[:10_001],
            relying_party(),
        )
    except ServiceError as exc:
        db.session.rollback()
        return jsonify({"error": str(exc)}), exc.status
    session[APPROVE_SESSION] = challenge_id
    return jsonify(
        {"options": json.loads(options), "statement": webauthn.statement_json(statement)}
    )


def _withdraw_refused(exc: ServiceError, request_id: int):  # type: ignore[no-untyped-def]
    return _render_detail(request_id, DecisionForm(formdata=None), exc.status)


@bp.post("/requests/<id:request_id>/withdraw")
@require_role()
@shows_refusals(_withdraw_refused)
def withdraw(request_id: int):  # type: ignore[no-untyped-def]
    if not ActionForm().validate_on_submit():
        abort(400)
    withdraw_approval(get_request(request_id), current_user, actor=web_actor())
    flash("Your approval was withdrawn; it no longer counts.", "ok")
    return redirect(url_for("review.detail", request_id=request_id))


def _form_errors(form: DecisionForm) -> str:
    messages = [
        f"{getattr(form, name).label.text if hasattr(form, name) else name}: {'; '.join(errs)}"
        for name, errs in form.errors.items()
    ]
    return " ".join(messages) or "invalid form"
