"""The reviewers' web interface, and what every page shares: one transaction per request,
one role check, one way to show a service's refusal."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from flask import Flask, abort, flash, render_template, session
from flask_login import current_user, login_required
from sqlalchemy.exc import SQLAlchemyError

from gate.clock import as_utc
from gate.server.extensions import db
from gate.server.services import ServiceError
from gate.server.services.actor import Actor

View = Callable[..., Any]


def init_app(app: Flask) -> None:
    app.after_request(_commit)
    app.add_template_filter(utc_minute, "utc")


def utc_minute(moment: datetime) -> str:
    """A time as pages show it: to the minute, always saying UTC (SQLite hands back naive UTC)."""
    return as_utc(moment).strftime("%Y-%m-%d %H:%M UTC")


def _commit(response: Any) -> Any:
    """The request's one commit, after the view (and its error path, which rolled back its
    own work) ran. A view that raised never gets here: its session is discarded unsaved."""
    try:
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        return render_template(
            "error.html",
            title="Not saved",
            message="The database did not accept the change; nothing was saved. Try again.",
        ), 503
    return response


def require_role(*roles: str) -> Callable[[View], View]:
    """Logged in, with one of ``roles`` (none given: any role); otherwise 403."""

    def decorate(view: View) -> View:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if roles and current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorate


def shows_refusals(page: Callable[..., Any], prefix: str = "") -> Callable[[View], View]:
    """A service's refusal in a view: ``refused``, then answer ``page(exc, *view args)``."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            try:
                return view(*args, **kwargs)
            except ServiceError as exc:
                refused(exc, prefix)
                return page(exc, *args, **kwargs)

        return wrapped

    return decorate


def refused(exc: ServiceError, prefix: str = "") -> None:
    """A service refused: undo what the request did so far and tell the user why."""
    db.session.rollback()
    flash(prefix + str(exc), "error")


def web_actor() -> Actor:
    """The logged-in user, as the audit log records them: a session, and how they logged in."""
    return Actor.web(current_user, session.get("gate_login", "password"))
