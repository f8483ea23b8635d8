"""The admins' pause page: see pauses, start one, stop one; each action re-checks the password."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from gate.clock import parse_moment
from gate.server.services import ServiceError
from gate.server.services.accounts import check_password
from gate.server.services.pauses import (
    in_force,
    known_guards,
    recent_pauses,
    start_pause,
    stop_pauses,
)
from gate.server.web import require_role, row_id, shows_refusals, web_actor

bp = Blueprint("pause", __name__, url_prefix="/admin/pause")


class StartForm(FlaskForm):
    reason = TextAreaField("Reason", validators=[DataRequired(), Length(max=2000)])
    scope = StringField("Scope", default="all", validators=[Length(max=2000)])
    until = StringField("Until (optional)", validators=[Optional(), Length(max=100)])
    password = PasswordField("Your password", validators=[DataRequired(), Length(max=1000)])


class StopForm(FlaskForm):
    pause_id = HiddenField()
    password = PasswordField("Your password", validators=[DataRequired(), Length(max=1000)])


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
@require_role("admin")
def index():  # type: ignore[no-untyped-def]
    return _render(StartForm(prefix="start"), StopForm(prefix="stop"))


def _checked_password(password: str) -> bool:
    if check_password(current_user, password):
        return True
    flash("Wrong password: the pause was not changed.", "error")
    return False


def _start_refused(exc: ServiceError):  # type: ignore[no-untyped-def]
    return _render(StartForm(prefix="start"), StopForm(prefix="stop"), exc.status)


@bp.post("/start")
@require_role("admin")
@shows_refusals(_start_refused, prefix="The pause was not started: ")
def start():  # type: ignore[no-untyped-def]
    form = StartForm(prefix="start")
    if not form.validate_on_submit():
        flash("The pause was not started: give a reason and your password.", "error")
        return _render(form, StopForm(prefix="stop"), 400)
    if not _checked_password(form.password.data or ""):
        return _render(form, StopForm(prefix="stop"), 403)
    try:
        until = parse_moment(form.until.data) if (form.until.data or "").strip() else None
    except ValueError as exc:
        raise ServiceError(str(exc)) from None
    pause = start_pause(
        current_user, form.reason.data or "", [form.scope.data or "all"], until, actor=web_actor()
    )
    flash(f"Pause {pause.id} started: agent pushes to its guards are refused.", "ok")
    return redirect(url_for("pause.index"))


def _stop_refused(exc: ServiceError):  # type: ignore[no-untyped-def]
    return _render(StartForm(prefix="start"), StopForm(prefix="stop"), exc.status)


@bp.post("/stop")
@require_role("admin")
@shows_refusals(_stop_refused, prefix="The pause was not stopped: ")
def stop():  # type: ignore[no-untyped-def]
    form = StopForm(prefix="stop")
    if not form.validate_on_submit():
        flash("The pause was not stopped: enter your password.", "error")
        return _render(StartForm(prefix="start"), form, 400)
    if not _checked_password(form.password.data or ""):
        return _render(StartForm(prefix="start"), form, 403)
    raw = (form.pause_id.data or "").strip()
    pause_id = row_id(raw)
    if raw and pause_id is None:  # a bad id must not mean "every pause"
        flash(f"The pause was not stopped: there is no pause {raw[:40]!r}.", "error")
        return _render(StartForm(prefix="start"), form, 404)
    stopped = stop_pauses(current_user, pause_id, actor=web_actor())
    flash("Stopped pause " + ", ".join(str(p.id) for p in stopped) + ".", "ok")
    return redirect(url_for("pause.index"))
