"""The admins' pause page: see pauses, start one, stop one; each action re-checks the password."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from gate.clock import parse_moment
from gate.errors import GateError
from gate.server.extensions import db
from gate.server.services import ServiceError
from gate.server.services.accounts import check_password
from gate.server.services.pauses import (
    in_force,
    known_guards,
    recent_pauses,
    start_pause,
    stop_pauses,
)

bp = Blueprint("pause", __name__, url_prefix="/admin/pause")


class StartForm(FlaskForm):
    reason = TextAreaField("Reason", validators=[DataRequired(), Length(max=2000)])
    scope = StringField("Scope", default="all", validators=[Length(max=2000)])
    until = StringField("Until (optional)", validators=[Optional(), Length(max=100)])
    password = PasswordField("Your password", validators=[DataRequired(), Length(max=1000)])


class StopForm(FlaskForm):
    pause_id = HiddenField()
    password = PasswordField("Your password", validators=[DataRequired(), Length(max=1000)])


def _admin_only() -> None:
    if current_user.role != "admin":
        abort(403)


def _render(start: StartForm, stop: StopForm, status: int = 200):  # type: ignore[no-untyped-def]
    return (
        render_template(
            "pause/index.html",
            start=start,
            stop=stop,
            current=in_force(),
            history=recent_pauses(),
            guards=known_guards(),
        ),
        status,
    )


@bp.get("")
@login_required
def index():  # type: ignore[no-untyped-def]
    _admin_only()
    return _render(StartForm(prefix="start"), StopForm(prefix="stop"))


def _checked_password(password: str) -> bool:
    if check_password(current_user, password):
        return True
    flash("Wrong password: the pause was not changed.", "error")
    return False


@bp.post("/start")
@login_required
def start():  # type: ignore[no-untyped-def]
    _admin_only()
    form = StartForm(prefix="start")
    if not form.validate_on_submit():
        flash("The pause was not started: give a reason and your password.", "error")
        return _render(form, StopForm(prefix="stop"), 400)
    if not _checked_password(form.password.data or ""):
        return _render(form, StopForm(prefix="stop"), 403)
    try:
        until = parse_moment(form.until.data) if (form.until.data or "").strip() else None
        pause = start_pause(
            current_user,
            form.reason.data or "",
            [form.scope.data or "all"],
            until,
            auth="session-password",
        )
    except GateError as exc:  # ServiceError, and InputError from the until field
        db.session.rollback()
        flash(f"The pause was not started: {exc}", "error")
        return _render(form, StopForm(prefix="stop"), 400)
    flash(f"Pause {pause.id} started: agent pushes to its guards are refused.", "ok")
    return redirect(url_for("pause.index"))


@bp.post("/stop")
@login_required
def stop():  # type: ignore[no-untyped-def]
    _admin_only()
    form = StopForm(prefix="stop")
    if not form.validate_on_submit():
        flash("The pause was not stopped: enter your password.", "error")
        return _render(StartForm(prefix="start"), form, 400)
    if not _checked_password(form.password.data or ""):
        return _render(StartForm(prefix="start"), form, 403)
    raw = (form.pause_id.data or "").strip()
    try:
        stopped = stop_pauses(
            current_user, int(raw) if raw.isdigit() else None, auth="session-password"
        )
    except ServiceError as exc:
        db.session.rollback()
        flash(f"The pause was not stopped: {exc}", "error")
        return _render(StartForm(prefix="start"), form, exc.status)
    flash("Stopped pause " + ", ".join(str(p.id) for p in stopped) + ".", "ok")
    return redirect(url_for("pause.index"))
