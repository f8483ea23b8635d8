"""JSON API for hooks and agents, under /api/v1/. Authenticated by tokens; cannot approve.

Every route names the action it takes and asks gate.server.services.scopes.authorize, the one
rule of what each kind of token may do, before it reads or writes anything else: git hosts'
hook tokens hold and report pushes for their repositories, agents' read tokens read their own
requests. A refusal is HTTP 403 (``out_of_scope``; 404 for a request the token may not see),
writes nothing the caller asked for, and is audited (throttled: see scopes.note_refusal).

Bodies are parsed by gate.wire, the one definition of the hook<->server format. Every error
has one shape: ``{"error": {"code": <code>, "message": <text>}}``.
"""

from __future__ import annotations

from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from gate import wire
from gate.server.content import verify_hold
from gate.server.database import committed, database_unavailable
from gate.server.extensions import db
from gate.server.services import ServiceError, scopes
from gate.server.services.accounts import token_by_secret, touch_token
from gate.server.services.actor import Actor
from gate.server.services.checkpoints import latest_checkpoint
from gate.server.services.decisions import get_request
from gate.server.services.heartbeats import record_heartbeat
from gate.server.services.holds import IncompleteHold, note_incomplete_hold, record_holds
from gate.server.services.landings import check_landed
from gate.server.services.progress import request_summary
from gate.server.services.pushes import record_push

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


@bp.errorhandler(IncompleteHold)
def _incomplete(exc: IncompleteHold):  # type: ignore[no-untyped-def]
    """Nothing of the hold is kept; its refusal is audited, in its own transaction."""
    db.session.rollback()
    committed(lambda: note_incomplete_hold(exc))
    return error(exc.code, str(exc), exc.status)


@bp.errorhandler(scopes.OutOfScope)
@bp.errorhandler(scopes.NotVisible)
def _refused(exc: scopes.OutOfScope | scopes.NotVisible):  # type: ignore[no-untyped-def]
    """Nothing the token asked for is kept; the refusal itself is noted, in its own transaction."""
    token_id, action, target = g.token.id, g.action, g.target
    db.session.rollback()
    committed(lambda: scopes.note_refusal(token_id, action, target, str(exc)))
    return error(exc.code, str(exc), exc.status)


@bp.errorhandler(SQLAlchemyError)
def _database_error(exc: SQLAlchemyError):  # type: ignore[no-untyped-def]
    """The database down, full or refusing connections: a 503 whose code the hook names to the
    pusher. Any other database error is a bug, and stays a 500."""
    db.session.rollback()
    reason = database_unavailable(exc)
    if reason is None:
        raise exc
    return error(wire.DATABASE_UNAVAILABLE, reason, 503)


def token_required(action: str):  # type: ignore[no-untyped-def]
    """A valid token in ``Authorization: Bearer`` (``g.token``) of a kind that may take
    ``action`` at all, checked before the body is read; the route then names its target
    (``g.target``) and asks scopes.authorize again with it."""

    def decorate(view):  # type: ignore[no-untyped-def]
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
            header = request.headers.get("Authorization", "")
            scheme, _, secret = header.partition(" ")
            token = (
                token_by_secret(secret.strip()) if scheme.lower() == "bearer" and secret else None
            )
            if token is not None and token.revoked_at is not None:
                token_id, path = token.id, request.path
                committed(lambda: scopes.note_refusal(token_id, action, path, "revoked token"))
                token = None
            if token is None:
                return error(
                    "unauthorized", "a valid API token is required (Authorization: Bearer ...)", 401
                )
            g.token, g.action, g.target = token, action, request.path
            g.actor = Actor.token(token)
            scopes.authorize(token, action)
            return view(*args, **kwargs)

        return wrapper

    return decorate


def _body(limit: int) -> Any:
    """The request's JSON, gunzipped when sent with ``Content-Encoding: gzip`` (Werkzeug does
    not decode content encodings), at most ``limit`` bytes once decompressed (and no more than
    MAX_CONTENT_LENGTH, when set lower): a small bomb cannot fill a worker's memory."""
    if not request.is_json:
        raise wire.WireError("the body must be JSON (Content-Type: application/json)")
    limit = min(limit, current_app.config.get("MAX_CONTENT_LENGTH") or limit)
    return wire.decode(
        request.get_data(cache=False), request.headers.get("Content-Encoding"), limit
    )


@bp.post("/holds")
@token_required(scopes.HOLD)
def holds():  # type: ignore[no-untyped-def]
    parsed = wire.parse_hold_request(_body(wire.BODY_LIMITS[wire.HOLDS_PATH]))
    g.target = parsed.repository
    scopes.authorize(g.token, scopes.HOLD, repository=parsed.repository)
    # The objects are checked and the diffs rendered before the transaction starts.
    hold = verify_hold(parsed)
    return jsonify(committed(lambda: _touched(_with_checkpoint(record_holds(hold, g.token)))))


@bp.get("/requests/<id:request_id>")
@token_required(scopes.READ)
def request_state(request_id: int):  # type: ignore[no-untyped-def]
    g.target = f"request {request_id}"
    held = get_request(request_id)
    scopes.authorize(g.token, scopes.READ, request=held)
    return jsonify(committed(lambda: _touched(request_summary(held))))


@bp.post("/pushes")
@token_required(scopes.REPORT)
def pushes():  # type: ignore[no-untyped-def]
    """The post-receive hook's report of an accepted push (for disclosure)."""
    report = wire.parse_push_report(_body(wire.BODY_LIMITS[wire.PUSHES_PATH]))
    g.target = report["repository"]
    scopes.authorize(g.token, scopes.REPORT, repository=report["repository"])
    return jsonify(committed(lambda: _touched(record_push(report, g.actor))))


@bp.get("/token")
@token_required(scopes.SELF)
def token_self():  # type: ignore[no-untyped-def]
    """The calling token's scope; ``?repository=NAME`` adds whether it speaks for NAME (so
    ``gate doctor`` can check a hook's token without holding anything)."""
    repository = request.args.get("repository") or None
    if repository is not None:
        repository = wire.parse_repository_name(repository)
    return jsonify(committed(lambda: _touched(scopes.scope_of(g.token, repository))))


@bp.get("/keys")
@token_required(scopes.KEYS)
def keys():  # type: ignore[no-untyped-def]
    """The signing-key registry (public keys, their accounts, revocations), which the hooks
    keep a copy of to verify commit signatures without asking the server on each push."""
    from gate.server.services.signing_keys import registry

    return jsonify(committed(lambda: _touched(registry())))


@bp.post("/heartbeats")
@token_required(scopes.REPORT)
def heartbeats():  # type: ignore[no-untyped-def]
    """A hook's (or ``gate doctor --report``'s) heartbeat: this repository is guarded, by this
    gate version, in this host layout; a doctor report carries the problems it found."""
    beat = wire.parse_heartbeat(_body(wire.BODY_LIMITS[wire.HEARTBEATS_PATH]))
    g.target = beat["repository"]
    scopes.authorize(g.token, scopes.REPORT, repository=beat["repository"])
    return jsonify(
        committed(lambda: _touched(_with_checkpoint(record_heartbeat(beat, g.token, g.actor))))
    )


@bp.post("/reconcile")
@token_required(scopes.REPORT)
def reconcile():  # type: ignore[no-untyped-def]
    """``gate reconcile``'s agent commits on guarded paths, reachable from protected refs: the
    server names (and records, once) those with no approval."""
    body = wire.parse_reconcile_request(_body(wire.BODY_LIMITS[wire.RECONCILE_PATH]))
    g.target = body["repository"]
    scopes.authorize(g.token, scopes.REPORT, repository=body["repository"])
    return jsonify(
        committed(
            lambda: _touched(
                check_landed(body["repository"], body["commits"], "reconcile", g.actor)
            )
        )
    )


def _with_checkpoint(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer with the latest signed audit checkpoint, which the git host keeps (every
    hold and heartbeat hands it out: docs/audit.md, "Kept by the git hosts")."""
    latest = latest_checkpoint()
    answer["checkpoint"] = None if latest is None else wire.checkpoint(latest.id, latest.note)
    return answer


def _touched(answer: T) -> T:
    """The answer, once the token's last use is noted in the same transaction."""
    touch_token(g.token)
    return answer
