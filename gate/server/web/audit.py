"""The auditor's page: download the same exports as `gate audit export`. Also signs the
periodic checkpoint when a request arrives and the last one is older than the period."""

from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, flash, render_template, request
from sqlalchemy.exc import SQLAlchemyError

from gate.audit.export import FORMATS, parse_period
from gate.errors import GateError
from gate.server.extensions import db
from gate.server.services import ServiceError
from gate.server.services.checkpoints import latest_checkpoint, maybe_checkpoint
from gate.server.services.exports import export_audit
from gate.server.web import require_role

bp = Blueprint("audit", __name__, url_prefix="/audit")
AUDIT_ROLES = ("auditor", "admin")
MIME = {"jsonl": "application/x-ndjson", "csv": "text/csv", "bundle": "application/zip"}
_CHECK_EVERY = 60.0  # seconds between looks at the last checkpoint's age, per process


auditor_required = require_role(*AUDIT_ROLES)


@bp.get("")
@auditor_required
def index():  # type: ignore[no-untyped-def]
    return render_template("audit/index.html", formats=FORMATS, checkpoint=latest_checkpoint())


@bp.post("/export")
@auditor_required
def export():  # type: ignore[no-untyped-def]
    fmt = request.form.get("format", "bundle")
    try:
        period = parse_period(request.form.get("since") or None, request.form.get("until") or None)
        made = export_audit(fmt, period)
    except (GateError, ServiceError) as exc:
        flash(str(exc), "error")
        return render_template(
            "audit/index.html", formats=FORMATS, checkpoint=latest_checkpoint()
        ), 400
    return Response(
        made.data,
        mimetype=MIME[fmt],
        headers={"Content-Disposition": f'attachment; filename="{made.filename}"'},
    )


@bp.before_app_request
def periodic_checkpoint() -> None:
    """Sign a checkpoint when the last is older than GATE_AUDIT_CHECKPOINT_SECONDS (0: off).

    Failures are logged, never shown to the request: cron `gate audit checkpoint` is the
    backstop for a server that is idle or cannot write its key directory.
    """
    period = int(current_app.config.get("GATE_AUDIT_CHECKPOINT_SECONDS") or 0)
    if not period:
        return
    state = current_app.extensions.setdefault("gate_audit", {"looked": float("-inf")})
    now = time.monotonic()
    if now - state["looked"] < min(_CHECK_EVERY, period):
        return
    state["looked"] = now
    try:
        maybe_checkpoint(period)
    except (GateError, ServiceError, SQLAlchemyError, OSError) as exc:
        db.session.rollback()
        current_app.logger.warning("gate: could not sign the periodic audit checkpoint: %s", exc)
