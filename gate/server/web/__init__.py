"""The reviewers' web interface, and what every page shares: one transaction per request,
one role check, one way to show a service's refusal, and the checks every value from a browser
passes where it enters (no NUL in any field or query value; ids within the database's range)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from flask import Flask, abort, flash, make_response, render_template, request, session
from flask_login import current_user, login_required
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.routing import BaseConverter, ValidationError

from gate.clock import as_utc
from gate.server.extensions import db
from gate.server.services import ServiceError
from gate.server.services.actor import Actor

View = Callable[..., Any]

# Row ids are INTEGER columns: PostgreSQL's int4 refuses a larger value with an error, not a miss.
MAX_ROW_ID = 2**31 - 1


def row_id(text: str) -> int | None:
    """A row id as typed in a form or a URL: ASCII digits from 1 to MAX_ROW_ID; else None."""
    text = text.strip()
    if not (0 < len(text) <= 10 and text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value <= MAX_ROW_ID else None


class RowIdConverter(BaseConverter):
    """``<id:name>`` in a route: a row id (see ``row_id``); anything else is a 404, not a
    database error."""

    regex = r"[0-9]{1,10}"

    def to_python(self, value: str) -> int:
        number = row_id(value)
        if number is None:
            raise ValidationError()
        return number

    def to_url(self, value: Any) -> str:
        return str(int(value))


def init_app(app: Flask) -> None:
    """Before any blueprint adds its routes: they use the ``id`` converter."""
    app.url_map.converters["id"] = RowIdConverter
    app.before_request(_refuse_nul)
    app.after_request(_commit)
    app.add_template_filter(utc_minute, "utc")


def utc_minute(moment: datetime) -> str:
    """A time as pages show it: to the minute, always saying UTC (SQLite hands back naive UTC)."""
    return as_utc(moment).strftime("%Y-%m-%d %H:%M UTC")


def _refuse_nul() -> Any:
    """No NUL in a query or form value (or name): PostgreSQL cannot store or even compare one,
    and no field has a use for it. The API checks its JSON bodies itself (gate.wire)."""
    if request.blueprint == "api":
        return None
    values = request.args.items(multi=True)
    if request.method == "POST":
        values = [*values, *request.form.items(multi=True)]
    if any("\x00" in name or "\x00" in value for name, value in values):
        return render_template(
            "error.html",
            title="Bad request",
            message="A field or address held a NUL character, which gate does not accept.",
        ), 400
    return None


def _commit(response: Any) -> Any:
    """The request's one commit, after the view (and its error path, which rolled back its
    own work) ran. A view that raised never gets here: its session is discarded unsaved."""
    try:
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        return make_response(
            render_template(
                "error.html",
                title="Not saved",
                message="The database did not accept the change; nothing was saved. Try again.",
            ),
            503,
        )
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
