"""JSON API for hooks and agents, under /api/v1/. Authenticated by hook tokens; cannot approve.

Bodies are parsed by gate.wire, the one definition of the hook<->server format. Every error
has one shape: ``{"error": {"code": <code>, "message": <text>}}``.
"""

from __future__ import annotations

from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from gate import wire
from gate.server.database import committed
from gate.server.extensions import db
from gate.server.services import ServiceError
from gate.server.services.accounts import token_for_secret, touch_token
from gate.server.services.actor import Actor
from gate.server.services.decisions import get_request
from gate.server.services.disclosure import record_push
from gate.server.services.heartbeats import record_heartbeat
from gate.server.services.holds import record_holds
from gate.server.services.landings import check_landed
from gate.server.services.progress import request_summary

bp = Blueprint("api", __name__, url_prefix=wire.API_PREFIX)
T = TypeVar("T")


def error(code: str, message: str, status: int):  # type: ignore[no-untyped-def]
    response = jsonify(wire.error_body(code, message))
    response.status_code = status
    return response


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
    db.session.rollback()
    return error(
        (exc.name or "error").lower().replace(" ", "_"), exc.description or "", exc.code or 500
    )


@bp.errorhandler(wire.WireError)
def _wire_error(exc: wire.WireError):  # type: ignore[no-untyped-def]
    db.session.rollback()
    return error(exc.code, str(exc), exc.status)


@bp.errorhandler(ServiceError)
def _service_error(exc: ServiceError):  # type: ignore[no-untyped-def]
    db.session.rollback()
    return error(type(exc).__name__.lower(), str(exc), exc.status)


def token_required(view):  # type: ignore[no-untyped-def]
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
        header = request.headers.get("Authorization", "")
        scheme, _, secret = header.partition(" ")
        token = token_for_secret(secret.strip()) if scheme.lower() == "bearer" and secret else None
        if token is None:
            return error(
                "unauthorized", "a valid hook token is required (Authorization: Bearer ...)", 401
            )
        g.token = token
        g.actor = Actor.hook(token)
        return view(*args, **kwargs)

    return wrapper


def _body() -> Any:
    """The request's JSON, gunzipped when sent with ``Content-Encoding: gzip`` (Werkzeug does
    not decode content encodings); the decompressed size is capped at MAX_CONTENT_LENGTH like
    a plain body, so a small bomb cannot fill memory."""
    if not request.is_json:
        raise wire.WireError("the body must be JSON (Content-Type: application/json)")
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or wire.DEFAULT_BODY_LIMIT
    return wire.decode(
        request.get_data(cache=False), request.headers.get("Content-Encoding"), limit
    )


@bp.post("/holds")
@token_required
def holds():  # type: ignore[no-untyped-def]
    hold = wire.parse_hold_request(_body())
    return jsonify(committed(lambda: _touched(record_holds(hold, g.token))))


@bp.get("/requests/<int:request_id>")
@token_required
def request_state(request_id: int):  # type: ignore[no-untyped-def]
    return jsonify(request_summary(get_request(request_id)))


@bp.post("/pushes")
@token_required
def pushes():  # type: ignore[no-untyped-def]
    """The post-receive hook's report of an accepted push (for disclosure)."""
    report = wire.parse_push_report(_body())
    return jsonify(committed(lambda: _touched(record_push(report, g.actor))))


@bp.post("/heartbeats")
@token_required
def heartbeats():  # type: ignore[no-untyped-def]
    """A hook's (or ``gate doctor --report``'s) heartbeat: this repository is guarded, by this
    gate version, in this host layout; a doctor report carries the problems it found."""
    beat = wire.parse_heartbeat(_body())
    return jsonify(committed(lambda: _touched(record_heartbeat(beat, g.token, g.actor))))


@bp.post("/reconcile")
@token_required
def reconcile():  # type: ignore[no-untyped-def]
    """``gate reconcile``'s agent commits on guarded paths, reachable from protected refs: the
    server names (and records, once) those with no approval."""
    body = wire.parse_reconcile_request(_body())
    return jsonify(
        committed(
            lambda: _touched(
                check_landed(body["repository"], body["commits"], "reconcile", g.actor)
            )
        )
    )


def _touched(answer: T) -> T:
    """The answer, once the token's last use is noted in the same transaction."""
    touch_token(g.token)
    return answer
