"""A user's own account page: their security keys (WebAuthn) for signed approvals.

The browser side is templates/account/webauthn.js (served from here: the pages allow no inline
script). A ceremony's challenge is kept in the database and named by the session; each is
taken, in a transaction of its own, before the answer is checked, so it is used at most once.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
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

from gate.resources import resource_dir
from gate.server.database import transaction
from gate.server.extensions import db
from gate.server.services import ServiceError, webauthn
from gate.server.web import require_role, shows_refusals, web_actor
from gate.server.web.forms import ActionForm, EnrolForm

bp = Blueprint("account", __name__)

ENROL_SESSION = "gate_webauthn_enrol"
APPROVE_SESSION = "gate_webauthn_approve"


def relying_party() -> webauthn.RelyingParty:
    """GATE_PUBLIC_URL's host and origin, else the address this page was asked for."""
    return webauthn.RelyingParty.from_url(
        current_app.config.get("GATE_PUBLIC_URL") or http.host_url
    )


def take_pending(key: str, purpose: str) -> dict[str, Any] | None:
    """The ceremony the session names, taken (deleted) and committed before anything else."""
    challenge_id = session.pop(key, None)
    db.session.rollback()
    with transaction():
        return webauthn.take_challenge(
            challenge_id if isinstance(challenge_id, int) else None, current_user, purpose
        )


@bp.get("/account")
@require_role()
def index():  # type: ignore[no-untyped-def]
    return _page(EnrolForm())


def _page(form: EnrolForm, status: int = 200):  # type: ignore[no-untyped-def]
    return (
        render_template(
            "account/index.html",
            form=form,
            action_form=ActionForm(),
            credentials=webauthn.credentials_of(current_user, active=False),
            rp=relying_party(),
        ),
        status,
    )


@bp.post("/account/webauthn/options")
@require_role()
def enrol_options():  # type: ignore[no-untyped-def]
    if not ActionForm().validate_on_submit():
        return jsonify({"error": "the form expired; reload the page"}), 400
    try:
        challenge_id, options = webauthn.registration_options(current_user, relying_party())
    except ServiceError as exc:
        db.session.rollback()
        return jsonify({"error": str(exc)}), exc.status
    session[ENROL_SESSION] = challenge_id
    return current_app.response_class(options, mimetype="application/json")


def _refused(exc: ServiceError):  # type: ignore[no-untyped-def]
    return _page(EnrolForm(formdata=None), exc.status)


@bp.post("/account/webauthn")
@require_role()
@shows_refusals(_refused)
def enrol():  # type: ignore[no-untyped-def]
    form = EnrolForm()
    if not form.validate_on_submit():
        flash("The security key was not enrolled: the form was incomplete or expired.", "error")
        return _page(form, 400)
    pending = take_pending(ENROL_SESSION, "enrol")
    credential = webauthn.enrol(
        current_user, pending, form.response.data or "", form.name.data or "", actor=web_actor()
    )
    flash(f"Your security key “{credential.name}” is enrolled.", "ok")
    return redirect(url_for("account.index"))


@bp.post("/account/webauthn/<id:credential_id>/remove")
@require_role()
@shows_refusals(_refused)
def remove(credential_id: int):  # type: ignore[no-untyped-def]
    if not ActionForm().validate_on_submit():
        flash("The form expired; nothing was removed.", "error")
        return _page(EnrolForm(formdata=None), 400)
    credential = webauthn.revoke(current_user, credential_id, actor=web_actor())
    flash(f"Your security key “{credential.name}” no longer signs approvals.", "ok")
    return redirect(url_for("account.index"))


@bp.get("/webauthn.js")
def script():  # type: ignore[no-untyped-def]
    """The script as shipped (package data beside the templates), not run through Jinja."""
    body = (resource_dir("templates") / "account" / "webauthn.js").read_bytes()
    response = current_app.response_class(body, mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    return response
