"""The admins' view of the repositories gate guards: each one's last heartbeat, hook version
and layout, and the banner on every admin page when one is overdue or has doctor problems."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, current_app, render_template
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from gate.server.database import transaction
from gate.server.extensions import db
from gate.server.services.heartbeats import banner, check_overdue, repository_health
from gate.server.web import require_role

bp = Blueprint("health", __name__, url_prefix="/admin")

_CHECK_EVERY = 60.0  # seconds between overdue checks while the server serves requests


@bp.get("/repositories")
@require_role("admin")
def repositories():  # type: ignore[no-untyped-def]
    return render_template("admin/repositories.html", repositories=repository_health())


@bp.app_context_processor
def repository_alert() -> dict[str, Any]:
    """The repository alert, for the banner admins see on every page."""
    if current_user.is_authenticated and current_user.role == "admin":
        return {"repository_alert": banner()}
    return {"repository_alert": None}


@bp.before_app_request
def periodic_overdue_check() -> None:
    """Raise overdue alerts (audit record, webhook) at most once a minute per process; cron's
    `gate heartbeats check` does it for a server nobody visits. Failures are logged only."""
    state = current_app.extensions.setdefault("gate_heartbeats", {"looked": float("-inf")})
    now = time.monotonic()
    if now - state["looked"] < _CHECK_EVERY:
        return
    state["looked"] = now
    try:
        with transaction():
            check_overdue()
    except SQLAlchemyError as exc:
        db.session.rollback()
        current_app.logger.warning("gate: could not check repository heartbeats: %s", exc)
