"""The approval queue, a request's page, and the decision form."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import case, select

from gate.extensions import db
from gate.models import ApprovalRequest
from gate.services import ServiceError
from gate.services.decisions import conflicts_of_interest, decide, get_request
from gate.services.progress import approvers, guard_progress
from gate.web.forms import DecisionForm

bp = Blueprint("review", __name__)


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    return redirect(url_for("review.queue"))


@bp.get("/requests")
@login_required
def queue():  # type: ignore[no-untyped-def]
    pending_first = case((ApprovalRequest.state == "pending", 0), else_=1)
    requests = db.session.scalars(
        select(ApprovalRequest)
        .order_by(pending_first, ApprovalRequest.created_at.desc())
        .limit(200)
    ).all()
    return render_template("review/queue.html", requests=requests)


@bp.get("/requests/<int:request_id>")
@login_required
def detail(request_id: int):  # type: ignore[no-untyped-def]
    return _render_detail(request_id, DecisionForm())


def _render_detail(request_id: int, form: DecisionForm, status: int = 200):  # type: ignore[no-untyped-def]
    try:
        req = get_request(request_id)
    except ServiceError:
        abort(404)
    return (
        render_template(
            "review/detail.html",
            req=req,
            form=form,
            progress=guard_progress(req),
            approvers=approvers(req),
            conflicts=conflicts_of_interest(req, current_user),
        ),
        status,
    )


@bp.post("/requests/<int:request_id>/decision")
@login_required
def decision(request_id: int):  # type: ignore[no-untyped-def]
    form = DecisionForm()
    if not form.validate_on_submit():
        flash("The decision was not recorded: " + _form_errors(form), "error")
        return _render_detail(request_id, form, 400)
    try:
        req = get_request(request_id)
        decide(req, current_user, form.decision.data or "", form.comment.data or "")
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return _render_detail(request_id, form, exc.status)
    flash("Your decision was recorded.", "ok")
    return redirect(url_for("review.detail", request_id=request_id))


def _form_errors(form: DecisionForm) -> str:
    messages = [
        f"{getattr(form, name).label.text if hasattr(form, name) else name}: {'; '.join(errs)}"
        for name, errs in form.errors.items()
    ]
    return " ".join(messages) or "invalid form"
