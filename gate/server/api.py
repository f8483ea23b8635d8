"""JSON API for hooks and agents, under /api/v1/. Authenticated by hook tokens; cannot approve.

Every error has one shape: ``{"error": <code>, "message": <text>}``.
"""

from __future__ import annotations

import json
import re
import zlib
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, UnsupportedMediaType

from gate.server.database import committed
from gate.server.extensions import db
from gate.server.services import ServiceError
from gate.server.services.accounts import token_for_secret, touch_token
from gate.server.services.actor import Actor
from gate.server.services.decisions import get_request
from gate.server.services.disclosure import record_push
from gate.server.services.holds import HoldReport, record_holds
from gate.server.services.progress import request_summary

bp = Blueprint("api", __name__, url_prefix="/api/v1")

_OID = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
# A lone surrogate can only come from a \uD800-\uDFFF escape: raw UTF-8 cannot encode one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
MAX_ITEMS = 20_000
T = TypeVar("T")


class BadPayload(ServiceError):
    pass


def error(code: str, message: str, status: int):  # type: ignore[no-untyped-def]
    response = jsonify({"error": code, "message": message})
    response.status_code = status
    return response


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
    db.session.rollback()
    return error(
        (exc.name or "error").lower().replace(" ", "_"), exc.description or "", exc.code or 500
    )


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


@bp.post("/holds")
@token_required
def holds():  # type: ignore[no-untyped-def]
    raw = _body_bytes()
    report = parse_hold_report(
        _json_or_none(raw), maybe_surrogates=bool(_SURROGATE_ESCAPE.search(raw))
    )
    return jsonify(committed(lambda: _touched(record_holds(report, g.token))))


@bp.get("/requests/<int:request_id>")
@token_required
def request_state(request_id: int):  # type: ignore[no-untyped-def]
    return jsonify(request_summary(get_request(request_id)))


def _body_bytes() -> bytes:
    """The request body, gunzipped when the hook sent ``Content-Encoding: gzip``.

    Werkzeug does not decode content encodings; the decompressed size is capped at
    MAX_CONTENT_LENGTH like a plain body, so a small bomb cannot fill memory.
    """
    raw = request.get_data(cache=False)
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding != "gzip":
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported; use gzip")
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 512 * 1024 * 1024
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        body = inflater.decompress(raw, limit + 1)
    except zlib.error:
        raise BadPayload("the body is not valid gzip") from None
    if len(body) > limit or inflater.unconsumed_tail:
        raise RequestEntityTooLarge(f"the decompressed body exceeds {limit} bytes")
    if not inflater.eof or inflater.unused_data:
        raise BadPayload("the body is not exactly one complete gzip stream")
    return body


def _json_or_none(raw: bytes) -> Any:
    if not request.is_json:
        return None
    try:
        return json.loads(raw)
    except ValueError:  # includes bodies that are not UTF-8
        return None


@bp.post("/pushes")
@token_required
def pushes():  # type: ignore[no-untyped-def]
    """The post-receive hook's report of an accepted push (for disclosure)."""
    report = parse_push_report(request.get_json(silent=True))
    return jsonify(committed(lambda: _touched(record_push(report, g.actor))))


def _touched(answer: T) -> T:
    """The answer, once the token's last use is noted in the same transaction."""
    touch_token(g.token)
    return answer


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10**9


def parse_push_report(body: Any) -> dict[str, Any]:
    """Validate a post-receive report; keep only the fields gate knows."""
    if not isinstance(body, dict):
        raise BadPayload("the body must be a JSON object")
    report_id = _string(body, "report_id", 64)
    if not re.fullmatch(r"[0-9a-f]{32}", report_id):
        raise BadPayload("report_id must be 32 hexadecimal digits")
    pushed_at = _string(body, "pushed_at", 40)
    if not _TIME.match(pushed_at):
        raise BadPayload("pushed_at must be a UTC time like 2026-01-31T12:00:00Z")
    pusher = body.get("pusher")
    if pusher is not None and (not isinstance(pusher, str) or len(pusher) > 200):
        raise BadPayload("pusher must be a string of at most 200 characters, or null")
    policy = body.get("policy")
    if not isinstance(policy, dict) or not isinstance(policy.get("guards"), list):
        raise BadPayload("policy must be an object with sha256 and guards")
    refs = body.get("refs")
    if (
        not isinstance(refs, list)
        or not refs
        or not all(
            isinstance(r, dict)
            and str(r.get("ref", "")).startswith("refs/")
            and all(isinstance(r.get(k), str) and _OID.match(r[k]) for k in ("old", "new"))
            for r in refs
        )
    ):
        raise BadPayload("refs must be a non-empty list of {ref, old, new} updates")
    guarded = body.get("guarded")
    if (
        not isinstance(guarded, list)
        or len(guarded) > MAX_ITEMS
        or not all(
            isinstance(b, dict)
            and isinstance(b.get("guard"), str)
            and isinstance(b.get("day"), str)
            and _DAY.match(b["day"])
            and _count(b.get("agent"))
            and _count(b.get("human"))
            and isinstance(b.get("agents"), dict)
            and all(isinstance(k, str) and _count(v) for k, v in b["agents"].items())
            for b in guarded
        )
    ):
        raise BadPayload("guarded must list {guard, day, agent, human, agents} counts")
    listed = body.get("agent_commits")
    if (
        not isinstance(listed, list)
        or len(listed) > MAX_ITEMS
        or not all(
            isinstance(c, dict) and isinstance(c.get("id"), str) and _OID.match(c["id"])
            for c in listed
        )
    ):
        raise BadPayload("agent_commits must list {id, guards, agents}")
    if not _count(body.get("commits")):
        raise BadPayload("commits must be a whole number")
    return {
        "report_id": report_id,
        "repository": _string(body, "repository", 500),
        "pusher": pusher,
        "pushed_at": pushed_at,
        "policy": {
            "sha256": _string(policy, "sha256", 64),
            "guards": [str(g) for g in policy["guards"]],
        },
        "refs": [{"ref": r["ref"], "old": r["old"], "new": r["new"]} for r in refs],
        "commits": body["commits"],
        "guarded": [
            {k: b[k] for k in ("guard", "day", "agent", "human", "agents")} for b in guarded
        ],
        "agent_commits": [
            {
                "id": c["id"],
                "guards": [str(x) for x in c.get("guards", [])],
                "agents": [str(x) for x in c.get("agents", [])],
            }
            for c in listed
        ],
        "agent_commits_truncated": bool(body.get("agent_commits_truncated")),
    }


def parse_hold_report(body: Any, *, maybe_surrogates: bool = True) -> HoldReport:
    """Validate the hook's JSON; anything off is a 400 with the reason, never a 500.

    ``maybe_surrogates=False`` (the raw body has no surrogate escape) skips the walk for them.
    """
    if not isinstance(body, dict):
        raise BadPayload("the body must be a JSON object")
    if maybe_surrogates and _has_lone_surrogate(body):
        raise BadPayload("strings must be valid Unicode (escape undecodable bytes before sending)")
    repository = _string(body, "repository", 500)
    ref = _string(body, "ref", 500)
    if not ref.startswith("refs/"):
        raise BadPayload("ref must start with refs/")
    old, new = _string(body, "old", 64), _string(body, "new", 64)
    if not (_OID.match(old) and _OID.match(new)):
        raise BadPayload("old and new must be full hexadecimal object ids")
    pusher = body.get("pusher")
    if pusher is not None and (not isinstance(pusher, str) or len(pusher) > 200):
        raise BadPayload("pusher must be a string of at most 200 characters, or null")
    policy = body.get("policy")
    if not isinstance(policy, dict):
        raise BadPayload("policy must be an object")
    policy_sha = _string(policy, "sha256", 64)
    approvals = policy.get("approvals")
    if not isinstance(approvals, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 100
        for k, v in approvals.items()
    ):
        raise BadPayload("policy.approvals must map guard names to whole numbers from 1 to 100")
    owners = policy.get("owners", {})
    if not isinstance(owners, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and len(k) <= 200 and len(v) <= 320
        for k, v in owners.items()
    ):
        raise BadPayload("policy.owners must map pusher names to owner email addresses")
    items = body.get("items")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS:
        raise BadPayload(f"items must be a list of 1 to {MAX_ITEMS} held items")
    keys = [_item(item) for item in items]
    if len(set(keys)) != len(keys):
        raise BadPayload("items must not repeat a key")
    return HoldReport(repository, ref, old, new, pusher, policy_sha, approvals, items, owners)


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def _string(obj: dict[str, Any], name: str, limit: int) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise BadPayload(f"{name} must be a non-empty string of at most {limit} characters")
    return value


def _item(item: Any) -> str:
    if not isinstance(item, dict):
        raise BadPayload("each item must be an object")
    key = _string(item, "key", 700)
    if item.get("kind") not in ("commit", "ref-update"):
        raise BadPayload(f"item {key[:40]}: kind must be 'commit' or 'ref-update'")
    if item["kind"] == "commit":
        commit = item.get("commit")
        if not _OID.match(key) or not isinstance(commit, dict) or commit.get("id") != key:
            raise BadPayload(
                f"item {key[:40]}: a commit item needs its commit object with the same id"
            )
        for who in ("author", "committer"):
            person = commit.get(who)
            if not isinstance(person, dict) or not all(
                isinstance(person.get(f), str) for f in ("name", "email")
            ):
                raise BadPayload(f"item {key[:12]}: commit.{who} needs name and email strings")
        if not isinstance(commit.get("message"), str):
            raise BadPayload(f"item {key[:12]}: commit.message must be a string")
    guards = item.get("guards")
    if (
        not isinstance(guards, dict)
        or not guards
        or not all(
            isinstance(k, str) and isinstance(v, list) and all(isinstance(p, str) for p in v)
            for k, v in guards.items()
        )
    ):
        raise BadPayload(f"item {key[:40]}: guards must map guard names to lists of paths")
    signals = item.get("signals")
    if not isinstance(signals, list) or not all(
        isinstance(s, dict) and all(isinstance(v, str) for v in s.values()) for s in signals
    ):
        raise BadPayload(f"item {key[:40]}: signals must be a list of objects of strings")
    if not isinstance(item.get("diffs"), list):
        raise BadPayload(f"item {key[:40]}: diffs must be a list")
    digest = item.get("diff_sha256")
    if digest is not None and not (
        isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest)
    ):
        raise BadPayload(f"item {key[:40]}: diff_sha256 must be a SHA-256 hex digest or null")
    return key
