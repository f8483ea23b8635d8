"""The hook<->server wire format: paths, item kinds and states, and every body, built and parsed.

Both sides use this module: the hooks (gate.git.client, gate.git.post_receive) build their
bodies with it and parse the server's answers with it; the API (gate.server.api) parses the
hooks' bodies with it and answers a ``WireError`` as HTTP 400 (or its own status) with
``{"error": {"code": ..., "message": ...}}``. Stdlib only: the hook imports it.

Parsing is strict, so what is stored always renders: every field has its type; numbers are
whole or finite; strings fit their database column (gate.server.models) and hold neither NUL
nor lone surrogates (PostgreSQL cannot store NUL; a lone surrogate is not Unicode); times are
RFC 3339 and dates ISO (gate.clock); nesting is bounded. Only known fields are kept.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import math
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gate.clock import parse_date, parse_rfc3339, utc_text
from gate.errors import GateError, InputError

API_PREFIX = "/api/v1"
HOLDS_PATH = f"{API_PREFIX}/holds"
PUSHES_PATH = f"{API_PREFIX}/pushes"
HEARTBEATS_PATH = f"{API_PREFIX}/heartbeats"
RECONCILE_PATH = f"{API_PREFIX}/reconcile"
REQUEST_PATH = f"{API_PREFIX}/requests/{{request_id}}"
TOKEN_PATH = f"{API_PREFIX}/token"  # the calling token's own scope
KEYS_PATH = f"{API_PREFIX}/keys"  # the signing-key registry, for the hooks

ITEM_KINDS = ("commit", "ref-update")
ITEM_STATES = ("approved", "pending", "denied", "paused")
REQUEST_STATES = ("pending", "approved", "denied", "superseded")

MAX_ITEMS = 20_000  # held items per ref update, and guarded buckets / listed commits per report
MAX_DEPTH = 16  # the deepest body gate sends is 4 levels (items[].objects[].data)
MAX_LIST = 200_000  # any other list (parents, trailers, paths, removed commits, files)

# Bounded work per request: what a body may hold after decompression, from what a real push
# sends, per item and in total (parsing a body costs a worker several times its size). A held
# commit carries at most 2 MiB of patch text (gate.git.diffs) and about 0.4 KiB per changed
# file; room is left for a commit's raw objects, base64-encoded, within a 32 MiB budget (43
# MiB). A push report is counts and ids: 20,000 listed commits are about 4 MiB.
MiB = 1024 * 1024
MAX_ITEM_TEXT = 48 * MiB  # characters of text in one held item (all its strings together)
MAX_HOLD_BYTES = 64 * MiB  # a hold request, decompressed
MAX_REPORT_BYTES = 8 * MiB  # a push report, decompressed
MAX_BODY_BYTES = max(MAX_HOLD_BYTES, MAX_REPORT_BYTES)  # any request body as sent
BODY_LIMITS = {
    HOLDS_PATH: MAX_HOLD_BYTES,
    PUSHES_PATH: MAX_REPORT_BYTES,
    HEARTBEATS_PATH: 1024 * 1024,  # a version, a layout and at most MAX_PROBLEMS lines
    RECONCILE_PATH: MAX_REPORT_BYTES,
}
GZIP_ABOVE = 16 * 1024  # bodies larger than this are sent gzipped (level 1: ~10 ms per MB)
MAX_COUNT = 10**9

# Objects a hold sends for one held commit (gate.git.objects picks them, gate.server.content
# checks them): blobs above MAX_SENT_BLOB are never sent, nor any once a commit's blobs would
# pass MAX_SENT_PER_COMMIT; the reviewer is told "content not sent" for those.
OBJECT_TYPES = ("commit", "tree", "blob")
MAX_SENT_BLOB = 8 * 1024 * 1024
MAX_SENT_PER_COMMIT = 32 * 1024 * 1024

# Policy limits: the bounds a policy (gate.toml) may use, which the server accepts and stores.
# Kept together as one definition so they can be taken from a single shared module.
MAX_APPROVALS = 100  # approvals one guard may require
GUARD_LEN = 200  # a guard's name: request_facets.value, group guards
PUSHER_LEN = 200  # a pusher's (or agent's) name: requests.pusher
EMAIL_LEN = 320  # an email: held_items.author_email, requests.agent_owner

# Sizes of the other columns the parsed values end up in (gate.server.models).
REPOSITORY_LEN = 500  # repositories.name
REF_LEN = 500  # requests.ref
OID_LEN = 64  # requests.old / new
KEY_LEN = 700  # held_items.key
NAME_LEN = 300  # held_items.author_name / committer_name
# A commit's author and committer: git sets no bound, so neither does the wire (beyond the body's
# own); the server keeps them whole in the item's JSON and clipped to NAME_LEN / EMAIL_LEN in
# the columns (gate.server.services.holds), so an odd identity never stops a hold.
IDENT_LEN = 16 * 1024 * 1024
SHORT_LEN = 1000  # signal fields, trailers, file statuses: JSON, kept short
TEXT_LEN = 16 * 1024 * 1024  # messages and patches: Text columns, capped by the body size
# Indexed columns must also fit one PostgreSQL B-tree entry (about 2,700 bytes) in UTF-8;
# ix_requests_supersede indexes ref and pusher together.
INDEXED_BYTES = 2000
REF_BYTES, PUSHER_BYTES = 1200, 600

_OID = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?", re.ASCII)
_SHA256 = re.compile(r"[0-9a-f]{64}", re.ASCII)
_REPORT_ID = re.compile(r"[0-9a-f]{32}", re.ASCII)
_OFFSET = re.compile(r"[+-]\d{4}", re.ASCII)
_SURROGATE = re.compile("[\ud800-\udfff]")
_RISKY_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


# The error code of the server's 503 when its database cannot be reached or is full; the hook
# names that cause to the pusher (gate.git.client) instead of an HTTP status.
DATABASE_UNAVAILABLE = "database_unavailable"


class WireError(GateError):
    """A body that breaks the wire format; ``code`` and ``status`` are the API's answer."""

    def __init__(self, message: str, *, code: str = "bad_payload", status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


# The error code of a hold refused because it would supersede requests while some of its
# content was not sent (HTTP 409): the hook says what to do (gate.git.client.HoldRefused).
HOLD_INCOMPLETE = "hold_incomplete"


# The error code of a genuine token refused for what it asked (HTTP 403): the hook and
# ``gate wait`` show the message, which names the token's scope and how to get the right one.
OUT_OF_SCOPE = "out_of_scope"


def request_path(request_id: int) -> str:
    return REQUEST_PATH.format(request_id=request_id)


def token_path(repository: str | None = None) -> str:
    from urllib.parse import quote

    return TOKEN_PATH + (f"?repository={quote(repository, safe='')}" if repository else "")


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def error_text(body: Any) -> str | None:
    """The message of an API error body, or None when ``body`` is not one."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return _clean(error["message"])[:300]
    return None


def error_code(body: Any) -> str | None:
    """The code of an API error body, or None when ``body`` is not one."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        return _clean(error["code"])[:100]
    return None


# Bodies on the wire ------------------------------------------------------------------------


def encode(body: dict[str, Any], limit: int | None = None) -> tuple[bytes, dict[str, str]]:
    """The JSON bytes and headers of a body; gzipped when large (1.8 MB of diffs to ~0.2).
    A body over ``limit`` bytes (the server's, BODY_LIMITS) is refused here, before sending."""
    data = json.dumps(body, separators=(",", ":"), allow_nan=False).encode("ascii")
    if limit is not None and len(data) > limit:
        raise WireError(
            f"the request would be {len(data) // MiB} MiB, more than the gate server accepts "
            f"({limit // MiB} MiB); push fewer commits at a time",
            code="request_entity_too_large",
            status=413,
        )
    headers = {"Content-Type": "application/json"}
    if len(data) > GZIP_ABOVE:
        data = gzip.compress(data, compresslevel=1, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return data, headers


def decode(raw: bytes, content_encoding: str | None, limit: int) -> Any:
    """The JSON value of a request body: gunzipped (``Content-Encoding: gzip``) up to ``limit``
    bytes, strict UTF-8, no NaN or infinities, nesting at most MAX_DEPTH, no NUL or lone
    surrogate in any string."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding not in ("", "identity", "gzip"):
        raise WireError(
            f"Content-Encoding {encoding[:40]!r} is not supported; use gzip",
            code="unsupported_media_type",
            status=415,
        )
    if encoding == "gzip":
        raw = _gunzip(raw, limit)
    elif len(raw) > limit:
        raise _too_large(limit)
    try:
        value = json.loads(
            raw.decode("utf-8"), parse_constant=_no_constant, parse_float=_finite_float
        )
    except UnicodeDecodeError:
        raise WireError("the body is not UTF-8") from None
    except RecursionError:
        raise WireError(f"the body nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, NaN, huge numbers
        raise WireError(f"the body is not JSON: {str(exc)[:200]}") from None
    # Raw UTF-8 cannot carry a lone surrogate and JSON forbids a raw NUL: only a \u escape
    # can bring one in, so strings are searched only when the body has such an escape.
    _check_tree(value, strings=_RISKY_ESCAPE.search(raw) is not None)
    return value


def _gunzip(raw: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        body = inflater.decompress(raw, limit + 1)
    except zlib.error:
        raise WireError("the body is not valid gzip") from None
    if len(body) > limit or inflater.unconsumed_tail:
        raise _too_large(limit)
    if not inflater.eof or inflater.unused_data:
        raise WireError("the body is not exactly one complete gzip stream")
    return body


def _too_large(limit: int) -> WireError:
    return WireError(
        f"the body exceeds {limit} bytes (decompressed)",
        code="request_entity_too_large",
        status=413,
    )


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text[:40]} is out of range")
    return number


def _check_tree(value: Any, strings: bool) -> None:
    """Refuse nesting deeper than MAX_DEPTH and, when ``strings``, any string (key or value)
    holding NUL or a lone surrogate. Iterative: containers only, unless strings are checked."""
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise WireError(f"the body nests deeper than {MAX_DEPTH} levels")
        if isinstance(node, dict):
            if strings and any(_bad_chars(key) for key in node):
                raise _bad_string()
            children: Iterable[Any] = node.values()
        elif isinstance(node, list):
            children = node
        else:
            if strings and isinstance(node, str) and _bad_chars(node):
                raise _bad_string()
            continue
        stack.extend(
            (child, depth + 1) for child in children if strings or isinstance(child, dict | list)
        )


def text_size(value: Any) -> int:
    """Characters in every string (keys included) of a parsed JSON value; iterative."""
    total, stack = 0, [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            total += len(node)
        elif isinstance(node, dict):
            total += sum(len(key) for key in node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return total


def _bad_chars(text: str) -> bool:
    """NUL or a lone surrogate in ``text`` (isascii is O(1): most strings need no search)."""
    return "\x00" in text or (not text.isascii() and _SURROGATE.search(text) is not None)


def _bad_string() -> WireError:
    return WireError(
        "strings must be valid Unicode without NUL (escape undecodable bytes before sending)"
    )


# Field readers: each names the field in its error ------------------------------------------


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WireError(f"{where} must be a JSON object")
    return value


def _list(value: Any, where: str, most: int = MAX_LIST, least: int = 0) -> list[Any]:
    if not isinstance(value, list) or not least <= len(value) <= most:
        raise WireError(f"{where} must be a list of {least} to {most} entries")
    return value


def _str(
    value: Any, where: str, most: int, *, empty: bool = False, most_bytes: int | None = None
) -> str:
    if not isinstance(value, str) or len(value) > most or (not value and not empty):
        kind = "a string" if empty else "a non-empty string"
        raise WireError(f"{where} must be {kind} of at most {most} characters")
    if _bad_chars(value):
        raise WireError(f"{where} must be valid Unicode without NUL")
    if most_bytes is not None and len(value.encode("utf-8")) > most_bytes:
        raise WireError(f"{where} must be at most {most_bytes} bytes in UTF-8")
    return value


def _opt_str(value: Any, where: str, most: int, most_bytes: int | None = None) -> str | None:
    return None if value is None else _str(value, where, most, empty=True, most_bytes=most_bytes)


def _match(value: Any, where: str, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise WireError(f"{where} must be {what}")
    return value


def _oid(value: Any, where: str) -> str:
    return _match(value, where, _OID, "a full hexadecimal object id")


def _int(value: Any, where: str, least: int, most: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
        raise WireError(f"{where} must be a whole number from {least} to {most}")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise WireError(f"{where} must be true or false")
    return value


def _ref(value: Any, where: str) -> str:
    ref = _str(value, where, REF_LEN, most_bytes=REF_BYTES)
    if not ref.startswith("refs/"):
        raise WireError(f"{where} must start with refs/")
    return ref


def _time(value: Any, where: str) -> str:
    try:
        return utc_text(parse_rfc3339(value))
    except InputError as exc:
        raise WireError(f"{where}: {exc}") from None


def _day(value: Any, where: str) -> str:
    try:
        return parse_date(value).isoformat()
    except InputError as exc:
        raise WireError(f"{where}: {exc}") from None


def _str_map(value: Any, where: str, key_len: int, read: Any) -> dict[str, Any]:
    mapping = _obj(value, where)
    if len(mapping) > MAX_ITEMS:
        raise WireError(f"{where} must have at most {MAX_ITEMS} entries")
    return {
        _str(k, f"{where} key", key_len): read(v, f"{where}[{k[:40]!r}]")
        for k, v in mapping.items()
    }


def parse_repository_name(value: Any) -> str:
    """A repository's name as the hooks send it (holds, reports) and tokens are scoped by."""
    return _str(value, "repository", REPOSITORY_LEN, most_bytes=INDEXED_BYTES)


def _guards(value: Any, where: str, least: int = 1) -> dict[str, list[str]]:
    guards = _str_map(
        value,
        where,
        GUARD_LEN,
        lambda paths, at: [_str(p, at, TEXT_LEN) for p in _list(paths, at)],
    )
    if len(guards) < least:
        raise WireError(f"{where} must name at least one guard")
    return guards


# Hold request: pre-receive -> POST /api/v1/holds -------------------------------------------


@dataclass(frozen=True)
class HoldRequest:
    """One ref update's held items, as the hook sent them (parsed: every field checked)."""

    repository: str
    ref: str
    old: str
    new: str
    pusher: str | None
    policy_sha256: str
    approvals: dict[str, int]
    items: list[dict[str, Any]]
    owners: dict[str, str] = field(default_factory=dict)  # agent pusher -> operator's email
    # guard -> its approval step-up when not the password ("webauthn": a security key)
    approval_methods: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        policy: dict[str, Any] = {
            "sha256": self.policy_sha256,
            "approvals": self.approvals,
            "owners": self.owners,
        }
        if self.approval_methods:  # only when set: a server from before reads the same body
            policy["approval_methods"] = self.approval_methods
        return {
            "repository": self.repository,
            "ref": self.ref,
            "old": self.old,
            "new": self.new,
            "pusher": self.pusher,
            "policy": policy,
            "items": self.items,
        }


def person(name: str, email: str, time: int, offset: str) -> dict[str, Any]:
    return {"name": name, "email": email, "time": time, "offset": offset}


def commit_item(
    commit_id: str,
    objects: Iterable[tuple[str, bytes]],
    signals: list[dict[str, str]],
    guards: dict[str, list[str]],
    first_pushed_by: str | None = None,
) -> dict[str, Any]:
    """A held commit, as the git objects that make it: (type, raw bytes) each. The server
    reads the commit's metadata and renders its diff from these alone, once it has checked
    every object id (gate.server.content). ``first_pushed_by``: the agent account the host's
    provenance store remembers pushing the commit first (gate.git.provenance), whose operator
    may not approve it any more than the pusher's."""
    item = {
        "key": commit_id,
        "kind": "commit",
        "objects": [
            {"type": kind, "data": base64.b64encode(data).decode("ascii")} for kind, data in objects
        ],
        "signals": signals,
        "guards": guards,
    }
    if first_pushed_by is not None:
        item["first_pushed_by"] = first_pushed_by
    return item


def ref_update_item(
    key: str,
    reason: str,
    removed: list[str],
    signals: list[dict[str, str]],
    guards: dict[str, list[str]],
) -> dict[str, Any]:
    """A held deletion or history rewrite of a protected ref."""
    return {
        "key": key,
        "kind": "ref-update",
        "reason": reason,
        "removed": removed,
        "signals": signals,
        "guards": guards,
    }


def parse_hold_request(body: Any) -> HoldRequest:
    body = _obj(body, "the body")
    policy = _obj(body.get("policy"), "policy")
    items = [
        _hold_item(item, f"items[{n}]")
        for n, item in enumerate(_list(body.get("items"), "items", MAX_ITEMS, 1))
    ]
    keys = [item["key"] for item in items]
    if len(set(keys)) != len(keys):
        raise WireError("items must not repeat a key")
    for n, item in enumerate(items):
        if text_size(item) > MAX_ITEM_TEXT:
            raise WireError(
                f"items[{n}] holds more than {MAX_ITEM_TEXT} characters of text",
                code="request_entity_too_large",
                status=413,
            )
    return HoldRequest(
        repository=parse_repository_name(body.get("repository")),
        ref=_ref(body.get("ref"), "ref"),
        old=_oid(body.get("old"), "old"),
        new=_oid(body.get("new"), "new"),
        pusher=_opt_str(body.get("pusher"), "pusher", PUSHER_LEN, PUSHER_BYTES),
        policy_sha256=_match(
            policy.get("sha256"), "policy.sha256", _SHA256, "a SHA-256 hex digest"
        ),
        approvals=_str_map(
            policy.get("approvals"),
            "policy.approvals",
            GUARD_LEN,
            lambda v, at: _int(v, at, 1, MAX_APPROVALS),
        ),
        items=items,
        owners=_str_map(
            policy.get("owners", {}),
            "policy.owners",
            PUSHER_LEN,
            lambda v, at: _str(v, at, EMAIL_LEN),
        ),
        approval_methods=_str_map(
            policy.get("approval_methods", {}),
            "policy.approval_methods",
            GUARD_LEN,
            _approval_method,
        ),
    )


APPROVAL_METHODS = ("webauthn",)  # besides the password, which is never listed


def _approval_method(value: Any, where: str) -> str:
    if value not in APPROVAL_METHODS:
        raise WireError(f"{where} must be one of {', '.join(APPROVAL_METHODS)}")
    return str(value)


def _hold_item(value: Any, where: str) -> dict[str, Any]:
    item = _obj(value, where)
    key = _str(item.get("key"), f"{where}.key", KEY_LEN, most_bytes=INDEXED_BYTES)
    kind = item.get("kind")
    if kind not in ITEM_KINDS:
        raise WireError(f"{where}.kind must be one of {', '.join(ITEM_KINDS)}")
    parsed: dict[str, Any] = {"key": key, "kind": kind}
    if kind == "commit":
        _oid(key, f"{where}.key")
        parsed["objects"] = _objects(item.get("objects"), f"{where}.objects")
        if "first_pushed_by" in item:
            parsed["first_pushed_by"] = _str(
                item["first_pushed_by"],
                f"{where}.first_pushed_by",
                PUSHER_LEN,
                most_bytes=PUSHER_BYTES,
            )
    else:
        parsed["reason"] = _str(item.get("reason", ""), f"{where}.reason", SHORT_LEN, empty=True)
        parsed["removed"] = [
            _oid(oid, f"{where}.removed")
            for oid in _list(item.get("removed", []), f"{where}.removed")
        ]
    parsed["signals"] = [
        _signal(s, f"{where}.signals[{n}]")
        for n, s in enumerate(_list(item.get("signals"), f"{where}.signals", 1000))
    ]
    parsed["guards"] = _guards(item.get("guards"), f"{where}.guards")
    return parsed


def _objects(value: Any, where: str) -> list[tuple[str, bytes]]:
    """(type, bytes) of each object sent; blobs within MAX_SENT_BLOB and, together,
    MAX_SENT_PER_COMMIT (what the hook never exceeds)."""
    objects = []
    blob_bytes = 0
    for n, entry in enumerate(_list(value, where, MAX_LIST, 1)):
        entry = _obj(entry, f"{where}[{n}]")
        kind = entry.get("type")
        if kind not in OBJECT_TYPES:
            raise WireError(f"{where}[{n}].type must be one of {', '.join(OBJECT_TYPES)}")
        text = entry.get("data")
        if not isinstance(text, str):
            raise WireError(f"{where}[{n}].data must be a base64 string")
        try:
            data = binascii.a2b_base64(text, strict_mode=True)
        except (binascii.Error, ValueError):
            raise WireError(f"{where}[{n}].data is not valid base64") from None
        if kind == "blob":
            if len(data) > MAX_SENT_BLOB:
                raise WireError(f"{where}[{n}] is a blob over {MAX_SENT_BLOB} bytes")
            blob_bytes += len(data)
            if blob_bytes > MAX_SENT_PER_COMMIT:
                raise WireError(f"{where}: the blobs exceed {MAX_SENT_PER_COMMIT} bytes")
        objects.append((kind, data))
    return objects


def commit_fields(value: Any, where: str) -> dict[str, Any]:
    """A commit's metadata as it is stored (id, parents, author, committer, message,
    trailers), checked to fit its columns: the server reads it from the verified object."""
    commit = _obj(value, where)
    return {
        "id": _oid(commit.get("id"), f"{where}.id"),
        "parents": [
            _oid(p, f"{where}.parents")
            for p in _list(commit.get("parents", []), f"{where}.parents")
        ],
        "author": _person(commit.get("author"), f"{where}.author"),
        "committer": _person(commit.get("committer"), f"{where}.committer"),
        "message": _str(commit.get("message"), f"{where}.message", TEXT_LEN, empty=True),
        "trailers": [
            [
                _str(part, f"{where}.trailers", SHORT_LEN, empty=True)
                for part in _list(t, f"{where}.trailers", 2, 2)
            ]
            for t in _list(commit.get("trailers", []), f"{where}.trailers", 1000)
        ],
    }


def _person(value: Any, where: str) -> dict[str, Any]:
    who = _obj(value, where)
    offset = who.get("offset", "+0000")
    return person(
        _str(who.get("name"), f"{where}.name", IDENT_LEN, empty=True),
        _str(who.get("email"), f"{where}.email", IDENT_LEN, empty=True),
        _int(who.get("time", 0), f"{where}.time", -(2**53), 2**53),
        _match(offset, f"{where}.offset", _OFFSET, "a time zone offset like +0100"),
    )


_SIGNAL_FIELDS = ("kind", "source", "agent", "rule", "evidence")


def _signal(value: Any, where: str) -> dict[str, str]:
    signal = _obj(value, where)
    if "kind" not in signal or "evidence" not in signal:
        raise WireError(f"{where} needs kind and evidence")
    return {
        name: _str(signal[name], f"{where}.{name}", SHORT_LEN, empty=True)
        for name in _SIGNAL_FIELDS
        if name in signal
    }


# Hold answer: the server's reply to a hold request -----------------------------------------


def answer_item(
    key: str, state: str, request_id: int, content_sha256: str | None
) -> dict[str, Any]:
    """One held item's state in a hold answer; ``content_sha256`` is what its request approves
    (a pause marks the item with ``pause_items``)."""
    assert state in ITEM_STATES, state
    return {"key": key, "state": state, "request_id": request_id, "content_sha256": content_sha256}


def pause_items(item: dict[str, Any], pause_ids: list[int]) -> None:
    """Mark an answer item as held by the pauses in force over its guards."""
    item["state"] = "paused"
    item["pauses"] = pause_ids


def pause_status(
    pause_id: int,
    scope: list[str],
    reason: str,
    started_by: str,
    started_at: str,
    until: str | None,
) -> dict[str, Any]:
    """A pause in force, as a hold answer names it (times as gate.clock writes them)."""
    return {
        "id": pause_id,
        "scope": scope,
        "reason": reason,
        "started_by": started_by,
        "started_at": started_at,
        "until": until,
    }


def hold_answer(
    items: list[dict[str, Any]],
    requests: list[dict[str, Any]],
    pauses: list[dict[str, Any]],
    checkpoint: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The answer to a hold: ``answer_item``s in the order sent, the ``request_status`` of each
    request they belong to, the ``pause_status`` of the pauses that hold some, and the latest
    signed audit ``checkpoint`` (None before the first)."""
    return {"items": items, "requests": requests, "pauses": pauses, "checkpoint": checkpoint}


def parse_hold_answer(body: Any, sent_keys: list[str]) -> dict[str, Any]:
    """The server's answer, checked to account for every item sent, with a known state and a
    request id each; requests and pauses are kept as the hook's messages read them."""
    body = _obj(body, "the answer")
    answered: dict[str, dict[str, Any]] = {}
    for n, value in enumerate(_list(body.get("items"), "items", MAX_ITEMS)):
        item = _obj(value, f"items[{n}]")
        state = item.get("state")
        if state not in ITEM_STATES:
            raise WireError(f"items[{n}].state must be one of {', '.join(ITEM_STATES)}")
        key = _str(item.get("key"), f"items[{n}].key", KEY_LEN)
        content = item.get("content_sha256")
        answered[key] = {
            "key": key,
            "state": state,
            "content_sha256": None
            if content is None
            else _match(content, f"items[{n}].content_sha256", _SHA256, "a SHA-256 hex digest"),
            "request_id": _int(item.get("request_id"), f"items[{n}].request_id", 1, 2**63),
            "pauses": [
                _int(p, f"items[{n}].pauses", 1, 2**63)
                for p in _list(item.get("pauses", []), "pauses")
            ],
        }
    missing = [key for key in sent_keys if key not in answered]
    if missing:
        raise WireError(f"the answer does not account for {len(missing)} item(s) sent")
    return {
        "items": [answered[key] for key in sent_keys],
        "requests": [
            parse_request_status(r) for r in _list(body.get("requests", []), "requests", MAX_ITEMS)
        ],
        "pauses": [
            _pause(p, f"pauses[{n}]")
            for n, p in enumerate(_list(body.get("pauses", []), "pauses", 1000))
        ],
        "checkpoint": parse_checkpoint(body.get("checkpoint")),
    }


def _pause(value: Any, where: str) -> dict[str, Any]:
    pause = _obj(value, where)
    until = pause.get("until")
    return {
        "id": _int(pause.get("id"), f"{where}.id", 1, 2**63),
        "scope": [
            _str(s, f"{where}.scope", GUARD_LEN)
            for s in _list(pause.get("scope"), f"{where}.scope")
        ],
        "reason": _clean(_str(pause.get("reason"), f"{where}.reason", TEXT_LEN, empty=True)),
        "started_by": _clean(
            _str(pause.get("started_by"), f"{where}.started_by", SHORT_LEN, empty=True)
        ),
        "started_at": _time(pause.get("started_at"), f"{where}.started_at"),
        "until": None if until is None else _time(until, f"{where}.until"),
    }


# Request status: GET /api/v1/requests/ID, and each of a hold answer's requests ------------


# A denial's line comments (gate.server.services.reading), carried to the agent: the server
# refuses to store more or longer ones, and the parser refuses an answer that holds more.
MAX_LINE_COMMENTS = 100  # per decision
COMMENT_LEN = 2000  # characters of one line comment
COMMENT_PATH_LEN = 4096  # characters of the path it names
MAX_LINE_NUMBER = 10_000_000
COMMENT_SIDES = ("old", "new")


def line_comment(key: str, path: str, side: str, line: int, text: str) -> dict[str, Any]:
    """One reviewer's comment on a line, as a denial in a request status carries it."""
    return {"key": key, "path": path, "side": side, "line": line, "text": text}


def _line_comment(value: Any, where: str) -> dict[str, Any]:
    comment = _obj(value, where)
    side = comment.get("side")
    if side not in COMMENT_SIDES:
        raise WireError(f"{where}.side must be one of {', '.join(COMMENT_SIDES)}")
    return {
        "key": _match(comment.get("key"), f"{where}.key", _OID, "a full hexadecimal object id"),
        "path": terminal_text(_str(comment.get("path"), f"{where}.path", COMMENT_PATH_LEN)),
        "side": side,
        "line": _int(comment.get("line"), f"{where}.line", 1, MAX_LINE_NUMBER),
        "text": terminal_text(_str(comment.get("text"), f"{where}.text", COMMENT_LEN)),
    }


def terminal_text(text: str) -> str:
    """Text a reviewer wrote, fit for the agent's terminal: every character that is not
    printable (controls, escape sequences, bidi overrides, line breaks) written as an escape
    such as ``\\n`` or ``\\x1b``, so it cannot move the cursor, colour, hide or forge lines."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def request_status(
    request_id: int,
    state: str,
    *,
    repository: str,
    ref: str,
    progress: str,
    approvals: dict[str, tuple[int, int]],
    approved_by: list[str],
    denials: list[tuple[str, str, list[dict[str, Any]]]],
    superseded_by: int | None,
) -> dict[str, Any]:
    """A request as the hook and `gate wait` read it: ``approvals`` maps each guard to (given,
    needed), ``denials`` are (reviewer, comment, line comments) of the denials in force, the
    line comments built by ``line_comment`` (at most MAX_LINE_COMMENTS are sent)."""
    assert state in REQUEST_STATES, state
    return {
        "id": request_id,
        "state": state,
        "ref": ref,
        "repository": repository,
        "progress": progress,
        "approvals": {
            g: {"given": given, "needed": needed} for g, (given, needed) in approvals.items()
        },
        "approved_by": approved_by,
        "denials": [
            {"reviewer": reviewer, "comment": comment, "comments": lines[:MAX_LINE_COMMENTS]}
            for reviewer, comment, lines in denials
        ],
        "superseded_by": superseded_by,
    }


def parse_request_status(value: Any) -> dict[str, Any]:
    status = _obj(value, "the request")
    state = status.get("state")
    if state not in REQUEST_STATES:
        raise WireError(f"the request's state must be one of {', '.join(REQUEST_STATES)}")
    approvals = {}
    for guard, counts in _obj(status.get("approvals", {}), "approvals").items():
        counts = _obj(counts, f"approvals[{guard[:40]!r}]")
        approvals[_clean(guard)] = {
            "given": _int(counts.get("given"), "approvals.given", 0, MAX_COUNT),
            "needed": _int(counts.get("needed"), "approvals.needed", 0, MAX_COUNT),
        }
    superseded_by = status.get("superseded_by")
    return {
        "id": _int(status.get("id"), "id", 1, 2**63),
        "state": state,
        "progress": _clean(_str(status.get("progress", ""), "progress", SHORT_LEN, empty=True)),
        "approvals": approvals,
        "denials": [
            {
                "reviewer": _clean(
                    _str(d.get("reviewer"), "denials.reviewer", SHORT_LEN, empty=True)
                ),
                "comment": _str(d.get("comment"), "denials.comment", TEXT_LEN, empty=True),
                "comments": [
                    _line_comment(c, f"denials.comments[{n}]")
                    for n, c in enumerate(
                        _list(d.get("comments", []), "denials.comments", MAX_LINE_COMMENTS)
                    )
                ],
            }
            for d in (
                _obj(x, "denials[]") for x in _list(status.get("denials", []), "denials", 1000)
            )
        ],
        "superseded_by": None
        if superseded_by is None
        else _int(superseded_by, "superseded_by", 1, 2**63),
    }


def _clean(text: str) -> str:
    """Text from the server as the hook prints it: no control characters (no forged lines)."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


# Audit checkpoint: in the answers to holds and heartbeats ---------------------------------
# The server's latest signed checkpoint of its audit log (docs/audit.md), for the git host to
# keep (gate.git.checkpoints): evidence the server's database owner cannot take back. The hook
# cannot check the signature (it has no key); the auditor does, with `gate audit verify
# --checkpoint`. Read strictly as a C2SP signed note: origin, size, base64 SHA-256 head,
# extension lines, a blank line, then signature lines "\u2014 NAME BASE64".

MAX_NOTE_BYTES = 8 * 1024  # four lines and a few signatures take about 400 bytes
_NOTE_NAME = re.compile(r"[!-~]{1,200}", re.ASCII)  # printable, no spaces (C2SP key names)


def checkpoint(checkpoint_id: int, note: str) -> dict[str, Any]:
    return {"id": checkpoint_id, "note": note}


def parse_checkpoint(value: Any, where: str = "checkpoint") -> dict[str, Any] | None:
    """{id, origin, size, note} of a checkpoint in an answer, or None when there is none."""
    if value is None:
        return None
    value = _obj(value, where)
    checkpoint_id = _int(value.get("id"), f"{where}.id", 1, 2**63)
    note = _str(value.get("note"), f"{where}.note", MAX_NOTE_BYTES, most_bytes=MAX_NOTE_BYTES)
    text, blank, signatures = note.partition("\n\n")
    lines = text.split("\n")
    if not blank or len(lines) < 3 or not note.endswith("\n"):
        raise WireError(f"{where}.note is not a signed note (text, a blank line, signatures)")
    origin, size, head, *extensions = lines
    if not _NOTE_NAME.fullmatch(origin) or not size.isascii() or not size.isdigit():
        raise WireError(f"{where}.note must start with the log's origin and size")
    try:
        head_bytes = base64.b64decode(head, validate=True)
    except binascii.Error:
        head_bytes = b""
    if len(head_bytes) != 32:
        raise WireError(f"{where}.note's third line must be a base64 SHA-256 chain head")
    if any(not line or not line.isprintable() for line in extensions):
        raise WireError(f"{where}.note has an empty or unprintable extension line")
    for line in signatures[:-1].split("\n"):
        dash, name, signature = [*line.split(" "), "", ""][:3]
        try:
            raw = base64.b64decode(signature, validate=True)
        except binascii.Error:
            raw = b""
        if (
            dash != "\u2014"
            or not _NOTE_NAME.fullmatch(name)
            or len(raw) < 5
            or line.count(" ") != 2
        ):
            raise WireError(f"{where}.note has a malformed signature line")
    return {
        "id": checkpoint_id,
        "origin": origin,
        "size": _int(int(size), f"{where}.size", 0, 2**63),
        "note": note,
    }


# Push report: post-receive -> POST /api/v1/pushes ------------------------------------------


def push_report(
    *,
    report_id: str,
    repository: str,
    pusher: str | None,
    pushed_at: str,
    policy_sha256: str,
    guards: list[str],
    refs: list[dict[str, str]],
    commits: int,
    guarded: list[dict[str, Any]],
    agent_commits: list[dict[str, Any]],
    agent_commits_truncated: bool,
    signed: list[dict[str, Any]] | None = None,
    remembered: list[dict[str, Any]] | None = None,
    remembered_truncated: bool = False,
    remembered_count: int | None = None,
) -> dict[str, Any]:
    """What landed in one accepted push: ``guarded`` counts {guard, day, agent, human, agents}
    per guard and committer day; ``agent_commits`` lists {id, guards, agents}; ``signed`` (only
    when there are any) the commits a ``trust = "signed-humans"`` guard accepted for their
    signature: {id, guards, fingerprint, account, commit (the raw object, base64)};
    ``remembered`` lists {id, ref, pusher, pushed_at}, the commits new to the repository that
    an agent account pushed, to any ref (gate.git.provenance), at most MAX_ITEMS of them;
    ``remembered_count`` how many there were in all, listed or not (the server compares it
    with the host's store). ``refs``: the protected refs updated (none when the push only
    brought remembered commits to other refs)."""
    extra = {"signed": signed} if signed else {}
    return {
        "report_id": report_id,
        "repository": repository,
        "pusher": pusher,
        "pushed_at": pushed_at,
        "policy": {"sha256": policy_sha256, "guards": guards},
        "refs": refs,
        "commits": commits,
        "guarded": guarded,
        "agent_commits": agent_commits,
        "agent_commits_truncated": agent_commits_truncated,
        **extra,
        "remembered": remembered or [],
        "remembered_truncated": remembered_truncated,
        "remembered_count": len(remembered or []) if remembered_count is None else remembered_count,
    }


def parse_push_report(body: Any) -> dict[str, Any]:
    """A post-receive report, checked; the stored form (an audit record's subject)."""
    body = _obj(body, "the body")
    policy = _obj(body.get("policy"), "policy")
    report = push_report(
        report_id=_match(body.get("report_id"), "report_id", _REPORT_ID, "32 hexadecimal digits"),
        repository=parse_repository_name(body.get("repository")),
        pusher=_opt_str(body.get("pusher"), "pusher", PUSHER_LEN, PUSHER_BYTES),
        pushed_at=_time(body.get("pushed_at"), "pushed_at"),
        policy_sha256=_match(
            policy.get("sha256"), "policy.sha256", _SHA256, "a SHA-256 hex digest"
        ),
        guards=[
            _str(g, "policy.guards", GUARD_LEN)
            for g in _list(policy.get("guards"), "policy.guards", 1000)
        ],
        refs=[
            _ref_update(r, f"refs[{n}]")
            for n, r in enumerate(_list(body.get("refs"), "refs", 10_000))
        ],
        commits=_int(body.get("commits"), "commits", 0, MAX_COUNT),
        guarded=[
            _bucket(b, f"guarded[{n}]")
            for n, b in enumerate(_list(body.get("guarded"), "guarded", MAX_ITEMS))
        ],
        agent_commits=[
            _listed(c, f"agent_commits[{n}]")
            for n, c in enumerate(_list(body.get("agent_commits"), "agent_commits", MAX_ITEMS))
        ],
        agent_commits_truncated=_bool(
            body.get("agent_commits_truncated", False), "agent_commits_truncated"
        ),
        signed=[
            _signed(c, f"signed[{n}]")
            for n, c in enumerate(_list(body.get("signed", []), "signed", MAX_ITEMS))
        ],
        remembered=[
            _remembered(c, f"remembered[{n}]")
            for n, c in enumerate(_list(body.get("remembered", []), "remembered", MAX_ITEMS))
        ],
        remembered_truncated=_bool(body.get("remembered_truncated", False), "remembered_truncated"),
    )
    listed = len(report["remembered"])
    count = _int(body.get("remembered_count", listed), "remembered_count", listed, MAX_COUNT)
    if count > listed and not report["remembered_truncated"]:
        raise WireError(
            f"remembered_count is {count} but remembered lists {listed} and is not truncated"
        )
    report["remembered_count"] = count
    if not report["refs"] and not report["remembered"]:
        raise WireError("refs must list at least one protected ref update, or remembered a commit")
    return report


def _remembered(value: Any, where: str) -> dict[str, Any]:
    entry = _obj(value, where)
    return {
        "id": _oid(entry.get("id"), f"{where}.id"),
        "ref": _ref(entry.get("ref"), f"{where}.ref"),
        "pusher": _opt_str(entry.get("pusher"), f"{where}.pusher", PUSHER_LEN, PUSHER_BYTES),
        "pushed_at": _time(entry.get("pushed_at"), f"{where}.pushed_at"),
    }


def _signed(value: Any, where: str) -> dict[str, Any]:
    signed = _obj(value, where)
    raw = _str(signed.get("commit"), f"{where}.commit", 4 * MiB)
    try:
        base64.b64decode(raw, validate=True)
    except (ValueError, binascii.Error):
        raise WireError(f"{where}.commit must be base64") from None
    return {
        "id": _oid(signed.get("id"), f"{where}.id"),
        "guards": [
            _str(g, f"{where}.guards", GUARD_LEN)
            for g in _list(signed.get("guards", []), f"{where}.guards", 1000, 1)
        ],
        "fingerprint": _str(signed.get("fingerprint"), f"{where}.fingerprint", KEY_FINGERPRINT_LEN),
        "account": _str(signed.get("account"), f"{where}.account", PUSHER_LEN),
        "commit": raw,
    }


def _ref_update(value: Any, where: str) -> dict[str, str]:
    update = _obj(value, where)
    return {
        "ref": _ref(update.get("ref"), f"{where}.ref"),
        "old": _oid(update.get("old"), f"{where}.old"),
        "new": _oid(update.get("new"), f"{where}.new"),
    }


def _bucket(value: Any, where: str) -> dict[str, Any]:
    bucket = _obj(value, where)
    return {
        "guard": _str(bucket.get("guard"), f"{where}.guard", GUARD_LEN),
        "day": _day(bucket.get("day"), f"{where}.day"),
        "agent": _int(bucket.get("agent"), f"{where}.agent", 0, MAX_COUNT),
        "human": _int(bucket.get("human"), f"{where}.human", 0, MAX_COUNT),
        "agents": _str_map(
            bucket.get("agents", {}),
            f"{where}.agents",
            SHORT_LEN,
            lambda v, at: _int(v, at, 0, MAX_COUNT),
        ),
    }


def _listed(value: Any, where: str) -> dict[str, Any]:
    listed = _obj(value, where)
    return {
        "id": _oid(listed.get("id"), f"{where}.id"),
        "guards": [
            _str(g, f"{where}.guards", GUARD_LEN)
            for g in _list(listed.get("guards", []), f"{where}.guards", 1000)
        ],
        "agents": [
            _str(a, f"{where}.agents", SHORT_LEN)
            for a in _list(listed.get("agents", []), f"{where}.agents", 1000)
        ],
    }


def parse_push_answer(body: Any) -> dict[str, Any]:
    body = _obj(body, "the answer")
    return {
        "recorded": _bool(body.get("recorded"), "recorded"),
        "seq": _int(body.get("seq"), "seq", 0, 2**63),
    }


# Token scope: GET /api/v1/token[?repository=NAME] -------------------------------------------

TOKEN_KINDS = ("hook", "agent-read")


def token_scope(
    *,
    kind: str,
    host: str | None,
    repositories: list[str],
    all_repositories: bool,
    unscoped: bool,
    agent: str | None,
    covers: bool | None,
) -> dict[str, Any]:
    """A token's own scope, as the server answers it; ``covers`` says whether it speaks for the
    repository asked about (None when none was asked, or for agents' read tokens)."""
    return {
        "kind": kind,
        "host": host,
        "repositories": repositories,
        "all_repositories": all_repositories,
        "unscoped": unscoped,
        "agent": agent,
        "covers": covers,
    }


def parse_token_scope(body: Any) -> dict[str, Any]:
    body = _obj(body, "the answer")
    kind = body.get("kind")
    if kind not in TOKEN_KINDS:
        raise WireError(f"kind must be one of {', '.join(TOKEN_KINDS)}")
    covers = body.get("covers")
    return token_scope(
        kind=kind,
        host=_opt_str(body.get("host"), "host", SHORT_LEN),
        repositories=[
            _clean(_str(p, "repositories", REPOSITORY_LEN))
            for p in _list(body.get("repositories", []), "repositories", 1000)
        ],
        all_repositories=_bool(body.get("all_repositories", False), "all_repositories"),
        unscoped=_bool(body.get("unscoped", False), "unscoped"),
        agent=_opt_str(body.get("agent"), "agent", PUSHER_LEN),
        covers=None if covers is None else _bool(covers, "covers"),
    )


# Heartbeat: post-receive and `gate doctor --report` -> POST /api/v1/heartbeats -------------

HEARTBEAT_SOURCES = ("post-receive", "doctor")
VERSION_LEN = 100  # repository_heartbeats.hook_version
LAYOUT_LEN = 40  # repository_heartbeats.layout
MAX_PROBLEMS = 100


def heartbeat(
    *,
    repository: str,
    source: str,
    hook_version: str,
    layout: str,
    sent_at: str,
    pusher_known: bool | None,
    problems: list[str],
    remembered: int | None = None,
) -> dict[str, Any]:
    """A guarded repository saying it is there: which gate version its hook runs and how the
    host runs it. ``pusher_known`` (post-receive) says whether the push came with an
    authenticated pusher; ``problems`` (doctor) lists what ``gate doctor`` found wrong;
    ``remembered`` how many commits the host's provenance store counts (a count, never a
    list: the server compares it with the commits push reports named)."""
    return {
        "remembered": remembered,
        "repository": repository,
        "source": source,
        "hook_version": hook_version,
        "layout": layout,
        "sent_at": sent_at,
        "pusher_known": pusher_known,
        "problems": problems,
    }


def parse_heartbeat(body: Any) -> dict[str, Any]:
    body = _obj(body, "the body")
    source = _str(body.get("source"), "source", 20)
    if source not in HEARTBEAT_SOURCES:
        raise WireError(f"source must be one of {', '.join(HEARTBEAT_SOURCES)}")
    pusher_known = body.get("pusher_known")
    return heartbeat(
        repository=parse_repository_name(body.get("repository")),
        source=source,
        hook_version=_str(body.get("hook_version"), "hook_version", VERSION_LEN),
        layout=_str(body.get("layout"), "layout", LAYOUT_LEN),
        sent_at=_time(body.get("sent_at"), "sent_at"),
        pusher_known=None if pusher_known is None else _bool(pusher_known, "pusher_known"),
        problems=[
            _str(problem, f"problems[{n}]", SHORT_LEN)
            for n, problem in enumerate(_list(body.get("problems", []), "problems", MAX_PROBLEMS))
        ],
        remembered=_opt_count(body.get("remembered"), "remembered"),
    )


def _opt_count(value: Any, where: str) -> int | None:
    return None if value is None else _int(value, where, 0, MAX_COUNT)  # fits a 32-bit column


def parse_heartbeat_answer(body: Any) -> dict[str, Any]:
    """``remembered_reported``: how many agent-pushed commits the server was told of for the
    repository (absent from servers before it counted them)."""
    body = _obj(body, "the answer")
    return {
        "recorded": _bool(body.get("recorded"), "recorded"),
        "checkpoint": parse_checkpoint(body.get("checkpoint")),
        "remembered_reported": _opt_count(body.get("remembered_reported"), "remembered_reported"),
    }


# Reconcile: `gate reconcile REPO` -> POST /api/v1/reconcile ---------------------------------

RECONCILE_SOURCES = ("post-receive", "reconcile")


def reconcile_request(
    *, repository: str, refs: list[str], commits: list[dict[str, Any]], truncated: bool
) -> dict[str, Any]:
    """The agent commits on guarded paths reachable from the protected ``refs``, each
    {id, guards, agents}; the server names those that have no approval."""
    return {"repository": repository, "refs": refs, "commits": commits, "truncated": truncated}


def parse_reconcile_request(body: Any) -> dict[str, Any]:
    body = _obj(body, "the body")
    return reconcile_request(
        repository=parse_repository_name(body.get("repository")),
        refs=[_ref(r, "refs") for r in _list(body.get("refs"), "refs", 10_000)],
        commits=[
            _listed(c, f"commits[{n}]")
            for n, c in enumerate(_list(body.get("commits"), "commits", MAX_ITEMS))
        ],
        truncated=_bool(body.get("truncated", False), "truncated"),
    )


def parse_reconcile_answer(body: Any, sent: list[str]) -> dict[str, Any]:
    """{unsigned: [ids without an approval], recorded: how many the server had not seen}."""
    body = _obj(body, "the answer")
    unsigned = [_oid(oid, "unsigned") for oid in _list(body.get("unsigned"), "unsigned", MAX_ITEMS)]
    if not set(unsigned) <= set(sent):
        raise WireError("unsigned names commits that were not sent")
    return {"unsigned": unsigned, "recorded": _int(body.get("recorded"), "recorded", 0, MAX_ITEMS)}


# The signing-key registry: GET /api/v1/keys ------------------------------------------------

KEY_KINDS = ("ssh", "gpg")
_SSH_PUBLIC_KEY = re.compile(r"[a-z0-9@.-]{1,60} [A-Za-z0-9+/]+={0,2}", re.ASCII)
ACCOUNT_KINDS = ("human", "agent")
KEY_FINGERPRINT_LEN = 100
MAX_KEYS = 100_000


def key_registry(keys: list[dict[str, Any]], *, generated_at: str) -> dict[str, Any]:
    """Every registered key: {fingerprint, account, account_kind, kind, key_type, public_key,
    added_at, revoked_at (or None)}."""
    return {"generated_at": generated_at, "keys": keys}


def parse_key_registry(body: Any) -> dict[str, Any]:
    body = _obj(body, "the answer")
    keys = []
    for n, value in enumerate(_list(body.get("keys"), "keys", MAX_KEYS)):
        where = f"keys[{n}]"
        key = _obj(value, where)
        kind = key.get("kind")
        if kind not in KEY_KINDS:
            raise WireError(f"{where}.kind must be one of {', '.join(KEY_KINDS)}")
        account_kind = key.get("account_kind")
        if account_kind not in ACCOUNT_KINDS:
            raise WireError(f"{where}.account_kind must be one of {', '.join(ACCOUNT_KINDS)}")
        revoked = key.get("revoked_at")
        public_key = _str(key.get("public_key"), f"{where}.public_key", 64 * 1024)
        if kind == "ssh" and not _SSH_PUBLIC_KEY.fullmatch(public_key):
            # It becomes a line of the hook's allowed-signers file: nothing but TYPE BASE64.
            raise WireError(f"{where}.public_key must be an OpenSSH key: TYPE BASE64")
        keys.append(
            {
                "fingerprint": _str(
                    key.get("fingerprint"), f"{where}.fingerprint", KEY_FINGERPRINT_LEN
                ),
                "account": _str(key.get("account"), f"{where}.account", PUSHER_LEN),
                "account_kind": account_kind,
                "kind": kind,
                "key_type": _str(key.get("key_type"), f"{where}.key_type", 60),
                "public_key": public_key,
                "added_at": _time(key.get("added_at"), f"{where}.added_at"),
                "revoked_at": None if revoked is None else _time(revoked, f"{where}.revoked_at"),
            }
        )
    return key_registry(keys, generated_at=_time(body.get("generated_at"), "generated_at"))
