"""The auditor's page: download the same exports as `gate audit export`; the public feed of
every signed checkpoint, for auditors to keep and later pass to `gate audit verify --checkpoint`.
Also signs the periodic checkpoint when a request arrives and the last one is older than the
period, and shows the audit alert to admins and auditors."""

from __future__ import annotations

import threading
import time
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from gate.audit.export import FORMATS, parse_period
from gate.audit.keys import PUBLIC_FILE, current_key, load_key
from gate.errors import GateError, InputError
from gate.server.extensions import db
from gate.server.models import AuditCheckpoint
from gate.server.services import ServiceError
from gate.server.services.checkpoints import (
    checkpoint_page,
    current_alert,
    key_directory,
    latest_checkpoint,
    maybe_checkpoint,
)
from gate.server.services.exports import export_audit
from gate.server.services.records import RecordFilters, RecordPage, browse, known_actions
from gate.server.web import require_role, row_id

bp = Blueprint("audit", __name__, url_prefix="/audit")
AUDIT_ROLES = ("auditor", "admin")
MIME = {"jsonl": "application/x-ndjson", "csv": "text/csv", "bundle": "application/zip"}
_CHECK_EVERY = 60.0  # seconds between looks at the last checkpoint's age, per process
FEED_PAGE = 100


auditor_required = require_role(*AUDIT_ROLES)


@bp.get("")
@auditor_required
def index():  # type: ignore[no-untyped-def]
    return _index_page()


def _index_page():  # type: ignore[no-untyped-def]
    return render_template(
        "audit/index.html",
        formats=FORMATS,
        checkpoint=latest_checkpoint(),
        key=load_key(key_directory()),
        key_file=PUBLIC_FILE,
    )


@bp.get("/records")
@auditor_required
def records():  # type: ignore[no-untyped-def]
    """The audit records, newest first, filtered by action, actor, repository and time."""
    filters = RecordFilters.from_args(request.args)
    raw = request.args.get("before", "")
    before = row_id(raw)
    status = 200
    try:
        if raw and before is None:
            raise InputError("the page asked for is not a record number")
        page = browse(filters, before)
    except InputError as exc:
        flash(f"Cannot show these records: {exc}", "error")
        page, status = RecordPage([], None), 400
    return render_template(
        "audit/records.html", page=page, filters=filters, actions=known_actions()
    ), status


@bp.get("/public-key.pem")
def public_key():  # type: ignore[no-untyped-def]
    """The key that signs checkpoints and bundles, for `gate audit verify --public-key`.

    Public, as a public key is: whoever verifies needs it, and it can only check signatures."""
    try:
        key = current_key(key_directory())
    except GateError as exc:
        return Response(str(exc) + "\n", status=404, mimetype="text/plain; charset=utf-8")
    return Response(
        key.public_pem,
        mimetype="application/x-pem-file",
        headers={
            "Content-Disposition": f'attachment; filename="{PUBLIC_FILE}"',
            "X-Gate-Key-Fingerprint": key.fingerprint,
        },
    )


@bp.post("/export")
@auditor_required
def export():  # type: ignore[no-untyped-def]
    fmt = request.form.get("format", "bundle")
    try:
        period = parse_period(request.form.get("since") or None, request.form.get("until") or None)
        made = export_audit(fmt, period)
    except (GateError, ServiceError) as exc:
        flash(str(exc), "error")
        return _index_page(), getattr(exc, "status", 400)
    return Response(
        made.data,
        mimetype=MIME[fmt],
        headers={"Content-Disposition": f'attachment; filename="{made.filename}"'},
    )


@bp.get("/checkpoints")
def checkpoints():  # type: ignore[no-untyped-def]
    """Every signed checkpoint, newest first, ``FEED_PAGE`` at a time (``?before=ID`` pages on).

    Public, like the key that signs them: a checkpoint reveals only the log's size and head, and
    whoever holds one can later show that the log was cut short or rewritten.
    """
    raw = request.args.get("before", "")
    before = row_id(raw)
    if raw and before is None:
        return jsonify(error="before must be a checkpoint id (a whole number)"), 400
    page = checkpoint_page(before, FEED_PAGE)
    more = len(page) == FEED_PAGE
    return jsonify(
        checkpoints=[
            {
                "id": cp.id,
                "size": cp.size,
                "time": cp.created_at,
                "note": cp.note,
                "note_url": url_for("audit.checkpoint_note", checkpoint_id=cp.id),
            }
            for cp in page
        ],
        next=url_for("audit.checkpoints", before=page[-1].id) if more else None,
    )


@bp.get("/checkpoints/<id:checkpoint_id>.note")
def checkpoint_note(checkpoint_id: int):  # type: ignore[no-untyped-def]
    """One checkpoint as a file to keep and pass to ``gate audit verify --checkpoint``."""
    checkpoint = db.session.get(AuditCheckpoint, checkpoint_id)
    if checkpoint is None:
        abort(404)
    return Response(checkpoint.note, mimetype="text/plain; charset=utf-8")


@bp.app_context_processor
def audit_alert() -> dict[str, Any]:
    """The audit alert, for the banner admins and auditors see on every page."""
    if current_user.is_authenticated and current_user.role in AUDIT_ROLES:
        return {"audit_alert": current_alert()}
    return {"audit_alert": None}


@bp.before_app_request
def periodic_checkpoint() -> None:
    """Sign a checkpoint when the last is older than GATE_AUDIT_CHECKPOINT_SECONDS (0: off).

    Failures are logged, never shown to the request: cron `gate audit checkpoint` is the
    backstop for a server that is idle or cannot write its key directory.
    """
    period = int(current_app.config.get("GATE_AUDIT_CHECKPOINT_SECONDS") or 0)
    if not period:
        return
    state = current_app.extensions.setdefault(
        "gate_audit", {"looked": float("-inf"), "lock": threading.Lock()}
    )
    # Held while signing: a request that arrives meanwhile waits, and then answers with the
    # new checkpoint (a hold answer hands it to the git host) instead of with none.
    with state["lock"]:
        now = time.monotonic()
        if now - state["looked"] < min(_CHECK_EVERY, period):
            return
        try:
            maybe_checkpoint(period)
        except (GateError, ServiceError, SQLAlchemyError, OSError) as exc:
            db.session.rollback()
            current_app.logger.warning(
                "gate: could not sign the periodic audit checkpoint: %s", exc
            )
        state["looked"] = now
