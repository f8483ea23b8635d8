"""Offline verifier for gate audit exports. Reads a bundle (zip) or a JSON Lines file; no network.

This module is meant to be read by an outside party. It imports only the Python standard library
and ``cryptography`` (for Ed25519), nothing else from gate, and runs on its own:

    python3 verify.py audit-bundle.zip --public-key gate-audit.pub.pem [--checkpoint NOTE ...]

What it checks, in this order (docs/audit.md describes every format):

1. Records: each line is one record; its ``hash`` is SHA-256 over the canonical JSON of the other
   fields; ``prev_hash`` is the previous record's ``hash``; ``seq`` goes up by exactly one. The
   first record's ``prev_hash`` is 64 zeros when the export starts at seq 1; a filtered export
   starts mid-chain, and then the chain is checked from its first record's ``prev_hash``.
2. Keys: the key you pass with ``--public-key`` is trusted; a key rotation recorded in the log
   (``audit.key_rotated``) extends trust to the old and new keys once a checkpoint signed by an
   already trusted key covers that record. Without ``--public-key`` the bundle's own key is used,
   which proves integrity only against accidents, not against whoever made the bundle.
3. Checkpoints: every signed checkpoint has a valid signature by a trusted key and names a chain
   head that matches the records; a checkpoint larger than the export means records are missing.
4. Manifest: signed by a trusted key; its counts, sequence range, head and file digests match.
   Each in-toto review attestation (``attestations/``, a DSSE envelope) is signed by a trusted
   key and is the statement the records give (``review_statements``).
5. Policy invariants (``INVARIANTS``): every ``push.allowed`` of held items has, before it,
   approvals from the required number of distinct humans, none of them a proposer; no
   ``push.allowed`` touching a paused guard falls inside a pause window (each window is listed
   with its counts of refused pushes and pending requests); every commit a signed-humans guard
   accepted was signed by a registered human key; and every approval signed by a security key
   (WebAuthn) verifies against its enrolled credential and its statement, and every approval
   of a guard with ``approval = "webauthn"`` carries one.
6. Held checkpoints (``--checkpoint``): checkpoints you kept from earlier (from the server's
   ``/audit/checkpoints`` feed or an earlier bundle) must be signed by a trusted key and agree
   with this export. One larger than the export means the log was TRUNCATED; one whose head is
   not the export's chain at its size means the log was REWRITTEN (even if re-hashed and
   re-signed since); one missing from a bundle that should hold it means checkpoints were
   DELETED. A held checkpoint older than the export's first record cannot be compared.

Each problem names the record (``seq``) or the file where it was found.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import io
import json
import re
import sys
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS = "0" * 64
RECORD_FIELDS = (
    "schema",
    "seq",
    "time",
    "actor",
    "actor_auth",
    "action",
    "subject",
    "policy_sha256",
    "prev_hash",
)
BUNDLE_FORMAT = "gate-audit-bundle/1"
SIGNATURE_DASH = "\u2014"  # signed-note signature lines start with an em dash
MAX_SAFE_INT = 2**53 - 1
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class VerifyError(Exception):
    """The input cannot be read at all (not a zip, not JSON Lines, not a key)."""


# --- canonical encoding ---------------------------------------------------------------------


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS) for the JSON values gate records use: objects, arrays, strings,
    integers within +-(2**53-1), booleans and null. Floats are refused.

    Object keys are sorted by their UTF-16 code units; no whitespace; strings are escaped as
    ECMAScript's JSON.stringify does (short escapes, \\u00XX for other control characters,
    everything else as UTF-8, lone surrogates as \\uXXXX).
    """
    if _plain(value):
        # The C encoder writes the same text as _encode when no key needs UTF-16 ordering.
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        if not text.isascii():
            text = _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
        return text.encode("utf-8")
    return _encode(value).encode("utf-8")


def _plain(value: Any) -> bool:
    """True when ``json.dumps(sort_keys=True)`` gives the canonical text: only allowed types,
    integers in range, and no key with a character beyond U+FFFF (there, code point order and
    UTF-16 order differ). Anything else goes to _encode, which also raises the errors."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str) or item is None or item is True or item is False:
            continue
        if isinstance(item, int):
            if abs(item) > MAX_SAFE_INT:
                return False
        elif isinstance(item, dict):
            for key in item:
                if not isinstance(key, str) or (not key.isascii() and max(key) > "\uffff"):
                    return False
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        else:
            return False
    return True


def _encode(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INT:
            raise ValueError(f"integer {value} is outside the range canonical JSON allows")
        return str(value)
    if isinstance(value, float):
        raise ValueError("floats are not allowed in audit records")
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(item) for item in value) + "]"
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise ValueError(f"object keys must be strings, not {key!r}")
        keys = sorted(value, key=lambda k: k.encode("utf-16-be", "surrogatepass"))
        return "{" + ",".join(_encode(k) + ":" + _encode(value[k]) for k in keys) + "}"
    raise ValueError(f"cannot encode {type(value).__name__} in an audit record")


def record_hash(body: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of a record's fields other than ``hash``."""
    return hashlib.sha256(canonical_json({k: body[k] for k in RECORD_FIELDS})).hexdigest()


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    where: str  # "record seq 7", "checkpoints/000003.note", "manifest.json"
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    checkpoints: int = 0
    pushes_checked: int = 0
    signed_checked: int = 0
    approvals_signed: int = 0
    envelopes_checked: int = 0
    pauses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Record:
    line: int
    body: dict[str, Any]

    @property
    def seq(self) -> int:
        return self.body["seq"]

    @property
    def action(self) -> str:
        return self.body["action"]

    @property
    def subject(self) -> dict[str, Any]:
        return self.body["subject"]

    @property
    def where(self) -> str:
        return f"record seq {self.body.get('seq', '?')} (line {self.line})"


# --- records and the chain ------------------------------------------------------------------


def parse_records(data: bytes, name: str = "records.jsonl") -> tuple[list[Record], list[Problem]]:
    """One record per line; lines that are not a well-formed record are problems."""
    records: list[Record] = []
    problems: list[Problem] = []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VerifyError(f"{name} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            body = json.loads(line)
        except json.JSONDecodeError as exc:
            if not records and not problems:
                raise VerifyError(
                    f"{name} is not a gate audit export (line {number} is not JSON)"
                ) from None
            problems.append(Problem(f"{name} line {number}", f"not JSON: {exc.msg}"))
            continue
        missing = [
            k for k in (*RECORD_FIELDS, "hash") if not isinstance(body, dict) or k not in body
        ]
        if missing:
            problems.append(Problem(f"{name} line {number}", f"missing fields {missing}"))
            continue
        if not isinstance(body["seq"], int) or not isinstance(body["subject"], dict):
            problems.append(Problem(f"{name} line {number}", "seq or subject has the wrong type"))
            continue
        records.append(Record(number, body))
    return records, problems


def check_chain(records: list[Record]) -> Iterator[Problem]:
    """Each record's own hash, its link to the one before, and no gaps in the sequence."""
    previous: Record | None = None
    for record in records:
        try:
            computed = record_hash(record.body)
        except ValueError as exc:
            yield Problem(record.where, f"cannot be canonically encoded: {exc}")
            computed = None
        if computed is not None and computed != record.body["hash"]:
            yield Problem(
                record.where,
                f"hash mismatch: the record says {record.body['hash']}, its content hashes to "
                f"{computed} (the record was altered)",
            )
        if previous is None:
            if record.seq == 1 and record.body["prev_hash"] != GENESIS:
                yield Problem(record.where, "the first record's prev_hash is not the genesis hash")
        else:
            if record.seq != previous.seq + 1:
                missing = (
                    f"records {previous.seq + 1}..{record.seq - 1} are missing"
                    if record.seq > previous.seq + 1
                    else "records are out of order"
                )
                yield Problem(
                    record.where,
                    f"follows seq {previous.seq}, expected {previous.seq + 1}: {missing}",
                )
            if record.body["prev_hash"] != previous.body["hash"]:
                yield Problem(
                    record.where,
                    f"prev_hash {record.body['prev_hash'][:16]}... is not the hash of the record "
                    f"before it (seq {previous.seq}): the chain is broken",
                )
        previous = record


# --- signed notes and checkpoints ------------------------------------------------------------


def public_key_raw(pem_or_raw: bytes) -> bytes:
    """The 32-byte Ed25519 public key from a PEM (SubjectPublicKeyInfo) file or raw bytes."""
    if len(pem_or_raw) == 32:
        return pem_or_raw
    try:
        key = serialization.load_pem_public_key(pem_or_raw)
    except (ValueError, TypeError) as exc:
        raise VerifyError(f"not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise VerifyError("the public key is not an Ed25519 key")
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(raw: bytes) -> str:
    """SHA-256 (hex) of the raw 32-byte public key; the manifest and records name keys by it."""
    return hashlib.sha256(raw).hexdigest()


def key_id(name: str, raw: bytes) -> bytes:
    """The signed-note key hash: first 4 bytes of SHA-256(name || "\\n" || 0x01 || key)."""
    return hashlib.sha256(name.encode("utf-8") + b"\n\x01" + raw).digest()[:4]


@dataclass(frozen=True)
class Signature:
    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class Note:
    text: str  # the signed text, ending in a newline
    signatures: tuple[Signature, ...]


def parse_note(data: str) -> Note:
    """A C2SP signed note: text, a blank line, then lines "— <name> <base64(keyid||sig)>"."""
    text, sep, block = data.partition("\n\n")
    if not sep or not text:
        raise ValueError("not a signed note (no blank line before the signatures)")
    signatures = []
    for line in block.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != SIGNATURE_DASH:
            raise ValueError(f"malformed signature line {line!r}")
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except binascii.Error:
            raise ValueError("signature is not base64") from None
        if len(blob) != 4 + 64:
            raise ValueError("signature has the wrong length for Ed25519")
        signatures.append(Signature(parts[1], blob[:4], blob[4:]))
    if not signatures:
        raise ValueError("the note has no signatures")
    return Note(text + "\n", tuple(signatures))


def signed_by(note: Note, keys: Iterable[bytes]) -> tuple[set[bytes], list[str]]:
    """The keys (of those given) whose signature on the note verifies, and any that fail."""
    good, bad = set(), []
    for raw in keys:
        for sig in note.signatures:
            if sig.key_id != key_id(sig.name, raw):
                continue
            try:
                Ed25519PublicKey.from_public_bytes(raw).verify(
                    sig.signature, note.text.encode("utf-8")
                )
                good.add(raw)
            except InvalidSignature:
                bad.append(fingerprint(raw)[:16])
    return good, bad


@dataclass(frozen=True)
class Checkpoint:
    name: str
    note: Note
    origin: str
    size: int
    head: str  # hex
    time: str


def parse_checkpoint(name: str, data: str) -> Checkpoint:
    """Checkpoint text: origin, size, base64 chain head, then extension lines ("time <UTC>")."""
    note = parse_note(data)
    lines = note.text.rstrip("\n").split("\n")
    if len(lines) < 3:
        raise ValueError("a checkpoint needs origin, size and head lines")
    if not lines[1].isdigit():
        raise ValueError(f"size {lines[1]!r} is not a number")
    try:
        head = base64.b64decode(lines[2], validate=True)
    except binascii.Error:
        raise ValueError("head is not base64") from None
    if len(head) != 32:
        raise ValueError("head is not a SHA-256 hash")
    times = [line.removeprefix("time ") for line in lines[3:] if line.startswith("time ")]
    return Checkpoint(name, note, lines[0], int(lines[1]), head.hex(), times[0] if times else "")


def check_checkpoints(
    checkpoints: list[Checkpoint], records: list[Record], trusted: set[bytes], origin: str | None
) -> Iterator[Problem]:
    """Each checkpoint is signed by a trusted key and matches the chain head at its size."""
    by_seq = {r.seq: r for r in records}
    first = records[0].seq if records else 1
    last = records[-1].seq if records else 0
    first_prev = records[0].body["prev_hash"] if records else GENESIS
    for cp in checkpoints:
        good, bad = signed_by(cp.note, trusted)
        if bad:
            yield Problem(cp.name, f"signature by key {', '.join(bad)} does not verify")
        elif not good:
            yield Problem(cp.name, "not signed by any trusted key")
        if origin is not None and cp.origin != origin:
            yield Problem(cp.name, f"origin {cp.origin!r} is not the log's origin {origin!r}")
        if cp.size > last:
            yield Problem(
                cp.name,
                f"says the log held {cp.size} records, but the export ends at seq {last}: "
                f"records {last + 1}..{cp.size} are missing (the tail was dropped)",
            )
        elif cp.size == first - 1:
            if cp.head != first_prev:
                yield Problem(cp.name, f"head does not match the prev_hash of seq {first}")
        elif cp.size >= first:
            record = by_seq.get(cp.size)
            if record is None:
                yield Problem(cp.name, f"covers seq {cp.size}, which is not in the export")
            elif record.body["hash"] != cp.head:
                yield Problem(
                    cp.name,
                    f"head {cp.head[:16]}... does not match the hash of {record.where} "
                    f"({record.body['hash'][:16]}...): the records were changed after signing",
                )


def extend_trust(
    trusted: set[bytes], checkpoints: list[Checkpoint], records: list[Record]
) -> set[bytes]:
    """Add keys named by key rotations that a checkpoint signed by a trusted key covers."""
    trusted = set(trusted)
    rotations = [r for r in records if r.action == "audit.key_rotated"]
    by_seq = {r.seq: r.body["hash"] for r in records}
    changed = True
    while changed:
        changed = False
        covered = 0
        for cp in checkpoints:
            if signed_by(cp.note, trusted)[0] and by_seq.get(cp.size) == cp.head:
                covered = max(covered, cp.size)
        for rotation in rotations:
            if rotation.seq > covered:
                continue
            for side in ("old_key", "new_key"):
                try:
                    raw = base64.b64decode(rotation.subject[side]["public_key"], validate=True)
                except (KeyError, TypeError, binascii.Error):
                    continue
                if len(raw) == 32 and raw not in trusted:
                    trusted.add(raw)
                    changed = True
    return trusted


def read_held_checkpoints(files: Iterable[tuple[str, bytes]]) -> list[Checkpoint]:
    """Checkpoint notes the auditor kept; one that cannot be parsed is unreadable input."""
    held = []
    for name, data in files:
        try:
            held.append(parse_checkpoint(name, data.decode("utf-8")))
        except (ValueError, UnicodeDecodeError) as exc:
            raise VerifyError(f"{name} is not a signed checkpoint note ({exc})") from None
    return held


def check_held_checkpoints(
    held: list[Checkpoint],
    records: list[Record],
    bundled: list[Checkpoint] | None,
    trusted: set[bytes],
    origin: str | None,
) -> Iterator[Problem]:
    """Step 6: the export agrees with every checkpoint the auditor already holds."""
    by_seq = {r.seq: r.body["hash"] for r in records}
    first = records[0].seq if records else 1
    last = records[-1].seq if records else 0
    if records:
        by_seq[first - 1] = records[0].body["prev_hash"]
    bundled_texts = None if bundled is None else {cp.note.text for cp in bundled}
    for cp in held:
        good, bad = signed_by(cp.note, trusted)
        if bad or not good:
            yield Problem(cp.name, "this held checkpoint is not signed by a trusted key")
            continue
        if origin is not None and cp.origin != origin:
            yield Problem(cp.name, f"origin {cp.origin!r} is not the log's origin {origin!r}")
            continue
        if cp.size > last:
            yield Problem(
                cp.name,
                f"TRUNCATED: this checkpoint, signed {cp.time}, says the log held {cp.size} "
                f"records, but the export ends at seq {last}: records {last + 1}..{cp.size} "
                "were removed from the log",
            )
        elif cp.size < first - 1:
            continue  # before the export starts: nothing to compare (see the notes)
        elif by_seq.get(cp.size) != cp.head:
            found = by_seq.get(cp.size)
            yield Problem(
                cp.name,
                f"REWRITTEN: this checkpoint, signed {cp.time}, names head {cp.head[:16]}... "
                f"at seq {cp.size}, but the export's chain there is "
                + (f"{found[:16]}..." if found else "missing")
                + f": records up to seq {cp.size} were changed after it was signed",
            )
        elif bundled_texts is not None and cp.note.text not in bundled_texts:
            yield Problem(
                cp.name,
                f"DELETED: this checkpoint, signed {cp.time} at size {cp.size}, is not among the "
                "bundle's checkpoints: checkpoints were deleted from the log",
            )


def _held_notes(report: Report, held: list[Checkpoint], records: list[Record]) -> None:
    first = records[0].seq if records else 1
    older = [cp.name for cp in held if cp.size < first - 1]
    if older:
        report.notes.append(
            f"held checkpoint(s) {', '.join(older)} cover only records before this export's "
            f"first record (seq {first}): they were not compared"
        )
    if held:
        report.notes.append(f"compared the export with {len(held)} held checkpoint(s)")


# --- policy invariants ------------------------------------------------------------------------


@dataclass
class HeldRequest:
    seq: int
    required: dict[str, int]
    proposers: dict[str, str]  # lower-cased email or account -> why they count as a proposer
    keys: set[str]
    denied: bool = False
    approvals: dict[str, tuple[str, int]] = field(default_factory=dict)  # reviewer -> (email, seq)


def held_request(record: Record) -> HeldRequest:
    subject = record.subject
    proposers: dict[str, str] = {}
    for item in subject.get("items", []):
        short = str(item.get("key", ""))[:12]
        for role in ("author", "committer", "operator"):
            who = item.get(role)
            if who:
                proposers.setdefault(str(who).lower(), f"{role} of {short}")
    if subject.get("pusher"):
        proposers.setdefault(str(subject["pusher"]).lower(), "pusher")
    return HeldRequest(
        seq=record.seq,
        required={str(g): int(n) for g, n in (subject.get("required") or {}).items()},
        proposers=proposers,
        keys={str(item.get("key")) for item in subject.get("items", [])},
    )


def distinct_approvers(
    approvals: Iterable[tuple[str, str]], proposers: dict[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """The rule for which approvals count, shared with the server (gate.server.services.progress).

    ``approvals`` are (reviewer account, email) pairs, oldest first, of standing approvals.
    One counts per human: humans are told apart by email, else by account, so one reviewer's
    second approval adds nothing. A proposer's approval (``proposers``: lower-cased email or
    account -> why) never counts. Returns (human -> reviewer counted, reviewer -> why not).
    """
    counted: dict[str, str] = {}
    excluded: dict[str, str] = {}
    for reviewer, email in approvals:
        email = email.lower()
        reason = proposers.get(email) or proposers.get(reviewer.lower())
        if reason:
            excluded.setdefault(reviewer, reason)
        else:
            counted.setdefault(email or reviewer.lower(), reviewer)
    return counted, excluded


def approval_progress(
    required: dict[str, int],
    counted: dict[str, str],
    may_approve: Callable[[str, str], bool] | None = None,
) -> dict[str, tuple[int, int]]:
    """guard -> (approvals that count for it, approvals it needs); ``may_approve(reviewer,
    guard)`` narrows who counts per guard (the server's reviewer groups; the log has none)."""
    return {
        guard: (
            sum(1 for r in counted.values() if may_approve is None or may_approve(r, guard)),
            needed,
        )
        for guard, needed in sorted(required.items())
    }


def check_pushes_were_approved(records: list[Record], partial: bool) -> Iterator[Problem]:
    """Every push.allowed of held items follows approvals from enough distinct non-proposers."""
    held: dict[int, HeldRequest] = {}
    for record in records:
        if record.action == "push.allowed":
            yield from _check_push(record, held, partial)
        else:
            _replay(held, record)


def check_decisions_bind_content(records: list[Record], partial: bool) -> Iterator[Problem]:
    """Every approval of a request held with content hashes (the SHA-256 of the objects the
    server verified, per commit) names each of them as they were held: an approval cannot be
    carried over to other content. Requests held before content was hashed are not checked."""
    held: dict[Any, dict[str, str]] = {}
    for record in records:
        subject = record.subject
        if record.action == "request.held":
            held[subject.get("request")] = {
                str(item.get("key")): str(item["content_sha256"])
                for item in subject.get("items", [])
                if isinstance(item, dict) and item.get("content_sha256")
            }
        elif record.action == "decision.approve":
            expected = held.get(subject.get("request"))
            if not expected:
                continue
            bound = subject.get("held_content_sha256")
            bound = bound if isinstance(bound, dict) else {}
            wrong = sorted(key for key, content in expected.items() if bound.get(key) != content)
            if wrong:
                yield Problem(
                    record.where,
                    f"approves request {subject.get('request')} without binding the content "
                    f"SHA-256 it was held with for {', '.join(k[:12] for k in wrong)}",
                )


def held_requests(records: list[Record]) -> dict[int, HeldRequest]:
    """Each held request's standing approvals after ``records``, as the invariant sees them."""
    held: dict[int, HeldRequest] = {}
    for record in records:
        _replay(held, record)
    return held


def _replay(held: dict[int, HeldRequest], record: Record) -> None:
    """Approvals count from ``decision.approve`` records; ``approval.withdrawn`` and
    ``user.disabled`` take a reviewer's approval back, ``request.denied`` closes a request."""
    subject, action = record.subject, record.action
    request = held.get(subject["request"]) if "request" in subject else None
    if action == "request.held":
        held[subject["request"]] = held_request(record)
    elif action == "decision.approve" and request is not None:
        reviewer = str(subject.get("reviewer", record.body["actor"]))
        email = str(subject.get("reviewer_email", "")).lower()
        request.approvals.setdefault(reviewer, (email, record.seq))
    elif action == "approval.withdrawn" and request is not None:
        request.approvals.pop(str(subject.get("reviewer", record.body["actor"])), None)
    elif action == "user.disabled":
        for pending in held.values():
            pending.approvals.pop(str(subject.get("user")), None)
    elif action == "request.denied" and request is not None:
        request.denied = True


def _check_push(record: Record, held: dict[int, HeldRequest], partial: bool) -> Iterator[Problem]:
    requests = record.subject.get("requests", [])
    keys = set(record.subject.get("keys", []))
    covered: set[str] = set()
    for request_id in requests:
        request = held.get(request_id)
        if request is None:
            if not partial:
                yield Problem(
                    record.where, f"lets request {request_id} through, but no record holds it"
                )
            keys.clear()  # cannot check keys against a request from before the export
            continue
        covered |= request.keys
        if request.denied:
            yield Problem(record.where, f"lets request {request_id} through after it was denied")
        counted, not_counted = distinct_approvers(
            ((reviewer, email) for reviewer, (email, _) in request.approvals.items()),
            request.proposers,
        )
        excluded = [
            f"{reviewer} at seq {request.approvals[reviewer][1]} is the {reason}"
            for reviewer, reason in not_counted.items()
        ]
        for guard, (given, needed) in approval_progress(request.required, counted).items():
            if given < needed:
                why = f" ({'; '.join(excluded)}: a proposer's approval does not count)"
                yield Problem(
                    record.where,
                    f"lets request {request_id} through, but guard {guard!r} needs {needed} "
                    f"approval(s) from distinct humans who are not its proposers and had "
                    f"{given}" + (why if excluded else ""),
                )
    stray = sorted(keys - covered)
    if stray:
        yield Problem(record.where, f"allows {', '.join(k[:12] for k in stray)}, never held")


# --- pauses -----------------------------------------------------------------------------------
#
# A pause window opens at its ``pause.started`` record and closes at the first of: the
# ``pause.stopped`` or ``pause.expired`` record for the same pause, or the pause's ``until``
# time. Records are ordered by ``seq`` (the server appends under one lock, and takes that lock
# before it reads the pauses when it is about to allow a push, so ``seq`` is the order in which
# decisions were made); a window with ``until`` also ends at that time.
#
# The invariant: no ``push.allowed`` record inside a window names a guard in the pause's scope
# (one without ``guards`` is taken to touch every guard). Each window is reported with its
# counts: pushes refused because of it (``push.refused`` naming the pause), requests held for its
# guards during it, how many of those were still pending when it closed, and approvals given
# during it (accepted, but effective only after the pause).
#
# These functions take plain record dicts (``seq``, ``time``, ``action``, ``subject``), so the
# disclosure report reuses them.

END_ACTIONS = ("pause.stopped", "pause.expired")


def _time(text: str) -> datetime:
    moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@dataclass
class PauseWindow:
    pause: int
    scope: list[str]
    reason: str
    started_by: str
    start_seq: int
    start_time: str
    until: str | None = None
    end_seq: int | None = None  # None: still in force at the end of the export (or ran out)
    end_time: str | None = None
    end_kind: str | None = None  # stopped | expired | until | open
    ended_by: str | None = None
    refused_pushes: int = 0
    requests_held: list[int] = field(default_factory=list)
    pending_at_end: list[int] = field(default_factory=list)
    approvals_during: int = 0
    violations: list[int] = field(default_factory=list)  # seq of offending push.allowed

    def covers(self, guards: Iterable[str] | None) -> bool:
        if guards is None:
            return True
        names = set(guards)
        return bool(names) and ("all" in self.scope or bool(names & set(self.scope)))

    def contains(self, record: dict[str, Any]) -> bool:
        """Whether a record falls inside this window (by seq, and before ``until``)."""
        return int(record["seq"]) > self.start_seq and self.before_end(record)

    def before_end(self, record: dict[str, Any]) -> bool:
        if self.end_seq is not None and int(record["seq"]) >= self.end_seq:
            return False
        return self.until is None or _time(record["time"]) < _time(self.until)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pause": self.pause,
            "scope": self.scope,
            "reason": self.reason,
            "started_by": self.started_by,
            "start": self.start_time,
            "start_seq": self.start_seq,
            "end": self.end_time,
            "end_seq": self.end_seq,
            "end_kind": self.end_kind,
            "ended_by": self.ended_by,
            "until": self.until,
            "refused_pushes": self.refused_pushes,
            "requests_held": len(self.requests_held),
            "pending_at_end": len(self.pending_at_end),
            "approvals_during": self.approvals_during,
            "violations": self.violations,
        }


@dataclass
class PauseProof:
    windows: list[PauseWindow]
    failures: list[str]

    @property
    def ok(self) -> bool:
        return not self.failures


def pause_windows(records: list[dict[str, Any]]) -> list[PauseWindow]:
    """The pause windows described by the records, without checking anything."""
    windows: dict[int, PauseWindow] = {}
    for record in sorted(records, key=lambda r: int(r["seq"])):
        action, subject = record["action"], record.get("subject") or {}
        if action == "pause.started":
            windows[int(subject["pause"])] = PauseWindow(
                pause=int(subject["pause"]),
                scope=list(subject.get("scope") or ["all"]),
                reason=str(subject.get("reason", "")),
                started_by=str(subject.get("by", record.get("actor", ""))),
                start_seq=int(record["seq"]),
                start_time=str(record["time"]),
                until=subject.get("until"),
            )
        elif action in END_ACTIONS:
            window = windows.get(int(subject.get("pause", -1)))
            if window is not None and window.end_seq is None:
                window.end_seq = int(record["seq"])
                window.end_kind = action.split(".")[1]
                window.ended_by = str(subject.get("by", record.get("actor", "")))
                window.end_time = str(record["time"])
                if window.until and _time(window.until) < _time(window.end_time):
                    window.end_time, window.end_kind = window.until, "until"
    for window in windows.values():
        if window.end_seq is None:
            window.end_time, window.end_kind = (
                (window.until, "until") if window.until else (None, "open")
            )
    return sorted(windows.values(), key=lambda w: w.start_seq)


def check_pauses(records: list[dict[str, Any]]) -> PauseProof:
    """Check the pause invariant and count what happened in each window."""
    ordered = sorted(records, key=lambda r: int(r["seq"]))
    windows = pause_windows(ordered)
    failures: list[str] = []
    held_guards: dict[int, set[str]] = {}
    settled: dict[int, dict[str, Any]] = {}  # request -> its request.approved / .denied record
    for record in ordered:
        subject = record.get("subject") or {}
        if record["action"] == "request.held":
            held_guards[int(subject["request"])] = {
                g for item in subject.get("items", []) for g in item.get("guards", {})
            }
        elif record["action"] in ("request.approved", "request.denied"):
            settled.setdefault(int(subject["request"]), record)
    for window in windows:
        for record in ordered:
            if not window.contains(record):
                continue
            action, subject = record["action"], record.get("subject") or {}
            if action == "push.allowed" and window.covers(subject.get("guards")):
                window.violations.append(int(record["seq"]))
                failures.append(
                    f"record {record['seq']}: push.allowed for {subject.get('repository')} "
                    f"{subject.get('ref')} (guards {', '.join(subject.get('guards') or ['unknown'])}) "
                    f"inside pause {window.pause} ({window.start_time} to {window.end_time or 'open'})"
                )
            elif action == "push.refused" and window.pause in subject.get("pauses", []):
                window.refused_pushes += 1
            elif action == "request.held" and window.covers(held_guards[int(subject["request"])]):
                window.requests_held.append(int(subject["request"]))
            elif action == "decision.approve" and window.covers(subject.get("guards")):
                window.approvals_during += 1
        window.pending_at_end = [
            r for r in window.requests_held if r not in settled or not window.before_end(settled[r])
        ]
    return PauseProof(windows, failures)


def check_pauses_held(records: list[Record], partial: bool) -> Iterator[Problem]:
    """No push of agent changes to a paused guard was allowed while the pause was in force."""
    by_seq = {r.seq: r for r in records}
    for window in check_pauses([r.body for r in records]).windows:
        for seq in window.violations:
            subject = by_seq[seq].subject
            yield Problem(
                by_seq[seq].where,
                f"push.allowed for {subject.get('repository')} {subject.get('ref')} (guards "
                f"{', '.join(subject.get('guards') or ['not recorded'])}) inside pause "
                f"{window.pause} of {', '.join(window.scope)}, in force from seq "
                f"{window.start_seq} ({window.start_time}) to "
                + (
                    f"seq {window.end_seq} ({window.end_time})"
                    if window.end_seq
                    else f"{window.end_time or 'the end of the export'}"
                ),
            )


# --- signed commits: what a signed-humans guard accepted, against the key registry -----------

SSH_SIGNATURE_BEGIN, SSH_SIGNATURE_END = (
    "-----BEGIN SSH SIGNATURE-----",
    "-----END SSH SIGNATURE-----",
)


OFFLINE_KEY_TYPES = ("ssh-ed25519", "sk-ssh-ed25519@openssh.com")


@dataclass
class RegisteredKey:
    fingerprint: str
    account: str
    account_kind: str
    kind: str
    key_type: str
    public_key: str
    added_seq: int
    revoked_at: str | None = None


def key_registry(records: list[Record]) -> dict[str, RegisteredKey]:
    """Every key the records register (``key.added``), with its revocation (``key.revoked``,
    wherever it comes: a revocation from a past time reaches back to acceptances before it)."""
    keys: dict[str, RegisteredKey] = {}
    for record in records:
        subject = record.subject
        if record.action == "key.added":
            keys[subject["fingerprint"]] = RegisteredKey(
                subject["fingerprint"],
                subject["account"],
                subject["account_kind"],
                subject["kind"],
                subject["key_type"],
                subject["public_key"],
                record.seq,
            )
        elif record.action == "key.revoked" and subject.get("fingerprint") in keys:
            keys[subject["fingerprint"]].revoked_at = subject.get("revoked_at")
    return keys


def _ssh_string(data: bytes, pos: int) -> tuple[bytes, int]:
    if pos + 4 > len(data):
        raise ValueError("truncated")
    length = int.from_bytes(data[pos : pos + 4], "big")
    if pos + 4 + length > len(data):
        raise ValueError("truncated")
    return data[pos + 4 : pos + 4 + length], pos + 4 + length


def _ssh_wire(value: bytes) -> bytes:
    return len(value).to_bytes(4, "big") + value


def split_commit_signature(raw: bytes) -> tuple[bytes, bytes] | None:
    """(signed payload, signature) of a raw commit object, as git splits them."""
    header, sep, message = raw.partition(b"\n\n")
    kept: list[bytes] = []
    signature: list[bytes] = []
    inside = False
    for line in header.split(b"\n"):
        if inside and line.startswith(b" "):
            signature.append(line[1:])
            continue
        inside = False
        name = line.partition(b" ")[0]
        if name in (b"gpgsig", b"gpgsig-sha256") and not signature:
            inside = True
            signature.append(line[len(name) + 1 :])
            continue
        kept.append(line)
    if not signature:
        return None
    return b"\n".join(kept) + sep + message, b"\n".join(signature) + b"\n"


def verify_ssh_commit_signature(public_key: str, payload: bytes, armored: bytes) -> str | None:
    """None when ``armored`` (an SSHSIG, namespace "git") is a valid signature of ``payload``
    by the OpenSSH ``public_key`` ("TYPE BASE64"); else why not. Ed25519 keys, plain and FIDO
    (sk-ssh-ed25519, whose signature covers the flags and counter too)."""
    key_type, _, key_b64 = public_key.partition(" ")
    text = armored.decode("ascii", "replace").strip()
    if not (text.startswith(SSH_SIGNATURE_BEGIN) and text.endswith(SSH_SIGNATURE_END)):
        return "the signature is not an SSH signature"
    try:
        blob = base64.b64decode(
            "".join(text[len(SSH_SIGNATURE_BEGIN) : -len(SSH_SIGNATURE_END)].split()), validate=True
        )
        if blob[:6] != b"SSHSIG":
            return "the signature is not an SSHSIG blob"
        pos = 10
        signer, pos = _ssh_string(blob, pos)
        namespace, pos = _ssh_string(blob, pos)
        reserved, pos = _ssh_string(blob, pos)
        hash_algorithm, pos = _ssh_string(blob, pos)
        signature_blob, pos = _ssh_string(blob, pos)
        registered = base64.b64decode(key_b64.split()[0], validate=True)
        if signer != registered:
            return "the signature was made by another key than the registered one"
        if namespace != b"git":
            return (
                f"the signature's namespace is {namespace.decode('utf-8', 'replace')!r}, not 'git'"
            )
        digests = {b"sha256": hashlib.sha256, b"sha512": hashlib.sha512}
        if hash_algorithm not in digests:
            return f"unknown SSHSIG hash algorithm {hash_algorithm!r}"
        signed = (
            b"SSHSIG"
            + _ssh_wire(namespace)
            + _ssh_wire(reserved)
            + _ssh_wire(hash_algorithm)
            + _ssh_wire(digests[hash_algorithm](payload).digest())
        )
        sig_type, at = _ssh_string(signature_blob, 0)
        raw_signature, at = _ssh_string(signature_blob, at)
        _key_name, kpos = _ssh_string(registered, 0)
        key_bytes, kpos = _ssh_string(registered, kpos)
        if key_type == "ssh-ed25519" and sig_type == b"ssh-ed25519":
            message = signed
        elif key_type == "sk-ssh-ed25519@openssh.com" and sig_type == key_type.encode():
            application, _ = _ssh_string(registered, kpos)
            flags_counter = signature_blob[at : at + 5]
            if len(flags_counter) != 5:
                return "the security-key signature has no flags and counter"
            message = (
                hashlib.sha256(application).digest()
                + flags_counter
                + hashlib.sha256(signed).digest()
            )
        else:
            return f"{key_type} signatures are not verified offline (only Ed25519 keys are)"
        Ed25519PublicKey.from_public_bytes(key_bytes).verify(raw_signature, message)
    except InvalidSignature:
        return "the signature does not verify with the registered key"
    except (ValueError, binascii.Error):
        return "the signature does not parse"
    return None


def check_signed_acceptances(records: list[Record], partial: bool) -> Iterator[Problem]:
    """Every commit a ``trust = "signed-humans"`` guard accepted for its signature (a
    ``push.accepted`` record's ``signed``) was signed by a key the records register for that
    human account before the push, not revoked by the time of the push; its object hashes to
    its id; an Ed25519 SSH signature is verified here, over the commit as git signs it."""
    keys = key_registry(records)
    for record in records:
        if record.action != "push.accepted":
            continue
        for entry in record.subject.get("signed") or []:
            reason = _signed_problem(entry, record, keys, partial)
            if reason is not None:
                guards = ", ".join(entry.get("guards") or [])
                yield Problem(
                    record.where,
                    f"commit {str(entry.get('id'))[:12]} accepted in signed-humans guard(s) "
                    f"{guards} for its signature: {reason}",
                )


def _signed_problem(
    entry: dict[str, Any], record: Record, keys: dict[str, RegisteredKey], partial: bool
) -> str | None:
    fingerprint = entry.get("fingerprint")
    key = keys.get(fingerprint)  # type: ignore[arg-type]
    if key is None or key.added_seq > record.seq:
        if partial and key is None:
            return None  # registered before the export starts: cannot be checked here
        return f"the key {fingerprint} is not in the key registry before this push"
    if key.account != entry.get("account") or key.account_kind != "human":
        return f"the key {fingerprint} is {key.account_kind} account {key.account}'s, not a human's named {entry.get('account')}"
    pushed_at = record.subject.get("pushed_at", "")
    if key.revoked_at is not None and _time(key.revoked_at) <= _time(pushed_at):
        return f"the key {fingerprint} ({key.account}) was revoked from {key.revoked_at}, before the push at {pushed_at}"
    try:
        raw = base64.b64decode(entry.get("commit", ""), validate=True)
    except (ValueError, binascii.Error):
        return "the commit object is not base64"
    if hashlib.sha1(b"commit %d\0" % len(raw) + raw).hexdigest() != entry.get("id"):
        return "the commit object does not hash to its id"
    parts = split_commit_signature(raw)
    if parts is None:
        return "the commit carries no signature"
    if key.kind == "ssh":
        return verify_ssh_commit_signature(key.public_key, *parts)
    return None  # OpenPGP: the registry is checked; the signature itself is not, offline


def signed_acceptance_notes(records: list[Record]) -> list[str]:
    keys = key_registry(records)
    notes = []
    for record in records:
        if record.action != "push.accepted":
            continue
        for entry in record.subject.get("signed") or []:
            key = keys.get(str(entry.get("fingerprint")))
            offline = key is not None and key.key_type in OFFLINE_KEY_TYPES
            how = (
                "signature verified offline"
                if offline
                else "registry checked; the signature itself is not verified offline"
            )
            notes.append(
                f"commit {entry.get('id')} accepted in guard(s) {', '.join(entry.get('guards') or [])}: "
                f"signed by {entry.get('account')}'s key {entry.get('fingerprint')} ({how})"
            )
    return notes


# --- approvals signed by security keys (WebAuthn) ----------------------------------------------
#
# A reviewer's credential is enrolled by a ``webauthn.enrolled`` record (its id, its public key
# as SubjectPublicKeyInfo PEM, the RP ID and origin) and removed by ``webauthn.revoked``. An
# approval of a guard with ``approval = "webauthn"`` carries ``webauthn`` in its
# ``decision.approve`` record: the statement, the authenticator data, the client data JSON,
# the signature and the credential id. Checked for each, in order:
#
# 1. the statement's SHA-256 (canonical JSON) is the challenge the client data names, and the
#    client data's type is webauthn.get and its origin the credential's enrolled origin;
# 2. the same assertion was not recorded before (a replayed assertion), and the statement is
#    this decision's: its request, repository, keys, content hash, guards, comment, reviewer,
#    signed in the ten minutes before the decision was recorded;
# 3. the credential was enrolled for this reviewer before the approval and not revoked;
# 4. the authenticator data is for the enrolled RP ID, with user presence, and its sign
#    counter (when the authenticator keeps one) goes up from the enrolment's and the last one;
# 5. the signature over authenticatorData || SHA-256(clientDataJSON) verifies with the
#    enrolled key (ES256, EdDSA or RS256).
# An approval of such a guard without an assertion is a problem too.

STATEMENT_TYPE = "gate-approval/1"
STATEMENT_BINDS = ("repository", "request", "keys", "content_sha256", "guards", "comment")
_UP = 0x01  # authenticator data flags: user present


def b64url_decode(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not a base64url string")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class EnrolledCredential:
    credential_id: str
    user: str
    public_key: str  # SubjectPublicKeyInfo PEM
    algorithm: int
    rp_id: str
    origin: str
    seq: int
    sign_count: int = 0
    revoked_seq: int | None = None


def enrolled_credentials(records: list[Record]) -> dict[str, EnrolledCredential]:
    found: dict[str, EnrolledCredential] = {}
    for record in records:
        subject = record.subject
        if record.action == "webauthn.enrolled":
            found[str(subject.get("credential_id"))] = EnrolledCredential(
                str(subject.get("credential_id")),
                str(subject.get("user")),
                str(subject.get("public_key")),
                int(subject.get("algorithm") or 0),
                str(subject.get("rp_id")),
                str(subject.get("origin")),
                record.seq,
                int(subject.get("sign_count") or 0),
            )
        elif record.action == "webauthn.revoked":
            credential = found.get(str(subject.get("credential_id")))
            if credential is not None and credential.revoked_seq is None:
                credential.revoked_seq = record.seq
    return found


def verify_webauthn_signature(pem: str, algorithm: int, signature: bytes, signed: bytes) -> bool:
    """Whether ``signature`` over ``signed`` verifies with the SPKI ``pem`` key."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
        if algorithm == -8 and isinstance(key, Ed25519PublicKey):
            key.verify(signature, signed)
        elif algorithm == -7 and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed, ec.ECDSA(hashes.SHA256()))
        elif algorithm == -257 and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, UnicodeError):
        return False
    return True


def _approval_methods(records: list[Record]) -> dict[Any, list[str]]:
    """request -> the guards whose approvals need a security key, as held."""
    found: dict[Any, list[str]] = {}
    for record in records:
        if record.action == "request.held":
            methods = record.subject.get("approval_methods") or {}
            found[record.subject.get("request")] = sorted(
                g for g, m in methods.items() if m == "webauthn"
            )
    return found


def signed_approvals(records: list[Record], partial: bool) -> tuple[list[Problem], list[str]]:
    """The problems of every approval a security key signed (or should have), and one note
    per approval that verified."""
    credentials = enrolled_credentials(records)
    needs = _approval_methods(records)
    seen: dict[bytes, tuple[int, Any]] = {}  # signature -> (seq, request) first recorded
    counters: dict[str, tuple[int, int]] = {}  # credential -> (last counter, seq)
    problems: list[Problem] = []
    notes: list[str] = []
    for record in records:
        if record.action != "decision.approve":
            continue
        subject = record.subject
        proof = subject.get("webauthn")
        if proof is None:
            guards = needs.get(subject.get("request"))
            if guards:
                problems.append(
                    Problem(
                        record.where,
                        f"approval of request {subject.get('request')} by "
                        f"{subject.get('reviewer')} carries no security-key assertion, but "
                        f'guard(s) {", ".join(guards)} need one (approval = "webauthn")',
                    )
                )
            continue
        reason = _signed_approval_problem(record, proof, credentials, seen, counters, partial)
        if reason is None or reason is _ENROLLED_EARLIER:
            digest = hashlib.sha256(canonical_json(proof.get("statement"))).hexdigest()
            notes.append(
                f"request {subject.get('request')} approved by {subject.get('reviewer')}'s "
                f"security key {proof.get('credential_id')} over statement {digest}"
                + (
                    ""
                    if reason is None
                    else " (enrolled before this export starts: the signature is not checked)"
                )
            )
        else:
            problems.append(
                Problem(
                    record.where,
                    f"approval of request {subject.get('request')} by "
                    f"{subject.get('reviewer')}: {reason}",
                )
            )
    return problems, notes


# A partial export's approval by a credential enrolled before its first record: not checkable.
_ENROLLED_EARLIER = "enrolled before the export"
_STATEMENT_SECONDS = 600  # a challenge lives 300 s; the decision is recorded when it is answered


def _signed_approval_problem(
    record: Record,
    proof: Any,
    credentials: dict[str, EnrolledCredential],
    seen: dict[bytes, tuple[int, Any]],
    counters: dict[str, tuple[int, int]],
    partial: bool,
) -> str | None:
    subject = record.subject
    try:
        statement = proof["statement"]
        authenticator_data = b64url_decode(proof["authenticator_data"])
        client_data_json = b64url_decode(proof["client_data_json"])
        signature = b64url_decode(proof["signature"])
        client_data = json.loads(client_data_json)
        challenge = b64url_decode(client_data["challenge"])
        credential_id = str(proof["credential_id"])
    except (KeyError, TypeError, ValueError, binascii.Error):
        return "the security-key assertion is incomplete or does not decode"
    if not isinstance(statement, dict) or not isinstance(client_data, dict):
        return "the security-key assertion is incomplete or does not decode"
    # 1. The statement is what the key signed.
    try:
        digest = hashlib.sha256(canonical_json(statement)).digest()
    except ValueError as exc:
        return f"the statement cannot be canonically encoded: {exc}"
    if client_data.get("type") != "webauthn.get":
        return f"the client data's type is {client_data.get('type')!r}, not 'webauthn.get'"
    if digest != challenge:
        return (
            f"TAMPERED statement: its SHA-256 is {digest.hex()}, but the security key signed "
            f"the challenge {challenge.hex()}: the statement was changed after it was signed"
        )
    # 2. Not an assertion recorded before, and the statement is this decision's.
    first = seen.get(signature)
    if first is not None:
        return (
            f"REPLAYED assertion: the same security-key assertion was recorded at seq "
            f"{first[0]} for request {first[1]}"
        )
    seen[signature] = (record.seq, subject.get("request"))
    if statement.get("request") != subject.get("request"):
        return (
            f"REPLAYED assertion: it signs the statement of request {statement.get('request')}, "
            f"not request {subject.get('request')}"
        )
    differs = [k for k in STATEMENT_BINDS if statement.get(k) != subject.get(k)]
    if statement.get("reviewer") != subject.get("reviewer"):
        differs.append("reviewer")
    if statement.get("decision") != "approve" or statement.get("type") != STATEMENT_TYPE:
        differs.append("decision")
    if differs:
        return (
            f"the signed statement is not this decision's: {', '.join(differs)} "
            f"{'differs' if len(differs) == 1 else 'differ'} from the decision record"
        )
    try:
        lag = (_time(record.body["time"]) - _time(statement.get("time", ""))).total_seconds()
    except ValueError:
        return f"the statement's time {statement.get('time')!r} is not a time"
    if not -5 <= lag <= _STATEMENT_SECONDS:
        return (
            f"the statement was signed at {statement.get('time')}, not in the "
            f"{_STATEMENT_SECONDS} seconds before this approval was recorded at "
            f"{record.body['time']}"
        )
    # 3. The credential was this reviewer's when they approved.
    credential = credentials.get(credential_id)
    if credential is None or credential.seq > record.seq:
        if partial and credential is None:
            return _ENROLLED_EARLIER
        return f"the credential {credential_id} was not enrolled before this approval"
    if credential.user != subject.get("reviewer"):
        return (
            f"SWAPPED credential: {credential_id} is enrolled for {credential.user}, not for "
            f"the approving reviewer {subject.get('reviewer')}"
        )
    if credential.revoked_seq is not None and credential.revoked_seq < record.seq:
        return (
            f"the credential {credential_id} was revoked at seq {credential.revoked_seq}, "
            "before this approval"
        )
    if client_data.get("origin") != credential.origin or proof.get("origin") != credential.origin:
        return (
            f"the client data's origin {client_data.get('origin')!r} (recorded as "
            f"{proof.get('origin')!r}) is not the credential's enrolled origin "
            f"{credential.origin!r}"
        )
    # 4. The authenticator data.
    if len(authenticator_data) < 37:
        return "the authenticator data is truncated"
    if authenticator_data[:32] != hashlib.sha256(credential.rp_id.encode("utf-8")).digest():
        return f"the authenticator data is not for the RP ID {credential.rp_id!r}"
    if not authenticator_data[32] & _UP:
        return "the authenticator data does not show user presence"
    counter = int.from_bytes(authenticator_data[33:37], "big")
    last = counters.get(credential_id, (credential.sign_count, credential.seq))
    if (counter or last[0]) and counter <= last[0]:
        return (
            f"the sign counter {counter} does not go up from {last[0]} (seq {last[1]}): "
            "a cloned key or a replayed assertion"
        )
    # 5. The signature, by the enrolled key.
    signed = authenticator_data + hashlib.sha256(client_data_json).digest()
    if not verify_webauthn_signature(
        credential.public_key, credential.algorithm, signature, signed
    ):
        return (
            f"SWAPPED credential: the signature does not verify with the enrolled key of "
            f"{credential_id} ({credential.user}'s): another key made this assertion"
        )
    counters[credential_id] = (counter, record.seq)
    return None


def check_signed_approvals(records: list[Record], partial: bool) -> Iterator[Problem]:
    """Every approval a security key signed verifies against its enrolled credential and the
    statement; every approval of a guard that needs one has one."""
    yield from signed_approvals(records, partial)[0]


# --- in-toto review attestations (DSSE) in a bundle -------------------------------------------
#
# Per approved request with commits, the bundle carries attestations/request-NNNNNNNN.intoto.json:
# a DSSE envelope, signed by the audit key over the DSSE pre-authentication encoding, of an
# in-toto Statement v1 whose subjects are the approved commits ({"gitCommit": id}) and whose
# predicate (REVIEW_PREDICATE_TYPE, docs/signing.md) says who approved, when, with which
# security key, and whether two or more distinct humans did (SLSA Source two-party review).
# The statement is a function of the records (review_statements), so the verifier rebuilds it
# and compares: an envelope is proof only of what the log says, signed where a supply-chain
# tool can read it.

INTOTO_STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
REVIEW_PREDICATE_TYPE = "https://gate.dev/review/v1"
TWO_PARTY_REVIEWED = "SLSA_SOURCE_TWO_PARTY_REVIEWED"
ATTESTATIONS_DIR = "attestations/"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what an envelope's signature covers."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def attestation_name(request: int) -> str:
    return f"{ATTESTATIONS_DIR}request-{request:08d}.intoto.json"


def review_statements(records: list[Record]) -> dict[int, dict[str, Any]]:
    """request -> the in-toto Statement of its approval, for every ``request.approved`` in the
    records whose ``request.held`` is there too and which approved at least one commit."""
    held: dict[Any, Record] = {}
    standing: dict[Any, dict[str, dict[str, Any]]] = {}
    statements: dict[int, dict[str, Any]] = {}
    for record in records:
        subject, action = record.subject, record.action
        request = subject.get("request")
        if action == "request.held":
            held[request], standing[request] = record, {}
        elif action == "decision.approve" and request in standing:
            found = subject.get("webauthn")
            proof: dict[str, Any] = found if isinstance(found, dict) else {}
            reviewer = str(subject.get("reviewer", record.body["actor"]))
            standing[request].setdefault(
                reviewer,
                {
                    "reviewer": reviewer,
                    "email": str(subject.get("reviewer_email", "")),
                    "approvedAt": record.body["time"],
                    "auditSeq": record.seq,
                    "securityKey": proof.get("credential_id"),
                    "statementSha256": proof.get("statement_sha256"),
                },
            )
        elif action == "approval.withdrawn" and request in standing:
            standing[request].pop(str(subject.get("reviewer", record.body["actor"])), None)
        elif action == "user.disabled":
            for approvals in standing.values():
                approvals.pop(str(subject.get("user")), None)
        elif action == "request.approved" and request in held and isinstance(request, int):
            made = _review_statement(record, held[request], list(standing[request].values()))
            if made is not None:
                statements[request] = made
    return statements


def _review_statement(
    approved: Record, held: Record, approvals: list[dict[str, Any]]
) -> dict[str, Any] | None:
    items = [i for i in held.subject.get("items", []) if isinstance(i, dict)]
    commits = [str(i.get("key")) for i in items if i.get("kind") == "commit"]
    if not commits:
        return None
    repository = str(held.subject.get("repository"))
    counted, _ = distinct_approvers(
        ((a["reviewer"], a["email"]) for a in approvals), held_request(held).proposers
    )
    two_party = len(counted) >= 2
    return {
        "_type": INTOTO_STATEMENT_TYPE,
        "subject": [{"name": f"{repository}@{c}", "digest": {"gitCommit": c}} for c in commits],
        "predicateType": REVIEW_PREDICATE_TYPE,
        "predicate": {
            "repository": repository,
            "ref": held.subject.get("ref"),
            "request": approved.subject.get("request"),
            "approvedAt": approved.body["time"],
            "guards": held.subject.get("required") or {},
            "refChanges": [str(i.get("key")) for i in items if i.get("kind") != "commit"],
            "reviewers": approvals,
            "distinctHumans": len(counted),
            "twoPartyReview": two_party,
            "slsaVerifiedProperties": [TWO_PARTY_REVIEWED] if two_party else [],
            "auditLog": {"seq": approved.seq, "recordHash": approved.body["hash"]},
        },
    }


def dsse_envelope(statement: dict[str, Any], sign: Callable[[bytes], bytes], keyid: str) -> bytes:
    """The DSSE envelope (JSON) of ``statement``, signed by ``sign`` over its PAE."""
    payload = canonical_json(statement)
    envelope = {
        "payloadType": INTOTO_PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [
            {
                "keyid": keyid,
                "sig": base64.b64encode(sign(pae(INTOTO_PAYLOAD_TYPE, payload))).decode("ascii"),
            }
        ],
    }
    return canonical_json(envelope) + b"\n"


def check_envelopes(
    files: dict[str, bytes], records: list[Record], trusted: set[bytes]
) -> tuple[list[Problem], int]:
    """Each review attestation is signed by a trusted key and is the statement the records
    give; every approved request with commits has one. (problems, envelopes that verified)"""
    expected = {attestation_name(r): s for r, s in review_statements(records).items()}
    problems: list[Problem] = []
    good = 0
    names = sorted(n for n in files if n.startswith(ATTESTATIONS_DIR) and not n.endswith("/"))
    for name in names:
        reason = _envelope_problem(files[name], expected.get(name), trusted)
        if reason is None:
            good += 1
        else:
            problems.append(Problem(name, reason))
    for name in sorted(set(expected) - set(names)):
        request = expected[name]["predicate"]["request"]
        problems.append(
            Problem(name, f"is missing: request {request} was approved, but has no attestation")
        )
    return problems, good


def _envelope_problem(
    data: bytes, expected: dict[str, Any] | None, trusted: set[bytes]
) -> str | None:
    try:
        envelope = json.loads(data)
        payload = base64.b64decode(envelope["payload"], validate=True)
        signatures = [
            (str(s["keyid"]), base64.b64decode(s["sig"], validate=True))
            for s in envelope["signatures"]
        ]
        statement = json.loads(payload)
    except (KeyError, TypeError, ValueError, binascii.Error, UnicodeDecodeError):
        return "not a DSSE envelope of JSON (payloadType, payload, signatures)"
    if envelope.get("payloadType") != INTOTO_PAYLOAD_TYPE:
        return f"payloadType is {envelope.get('payloadType')!r}, not {INTOTO_PAYLOAD_TYPE!r}"
    signed = pae(INTOTO_PAYLOAD_TYPE, payload)
    verified = False
    for raw in trusted:
        for keyid, signature in signatures:
            if keyid != fingerprint(raw):
                continue
            try:
                Ed25519PublicKey.from_public_bytes(raw).verify(signature, signed)
                verified = True
            except InvalidSignature:
                return f"the DSSE signature by key {keyid[:16]} does not verify"
    if not verified:
        return "not signed by a trusted key (DSSE over the PAE)"
    if expected is None:
        return "attests an approval the records do not hold"
    if statement != expected:
        top = [k for k in expected if statement.get(k) != expected[k]]
        inner = [
            k
            for k in expected["predicate"]
            if not isinstance(statement.get("predicate"), dict)
            or statement["predicate"].get(k) != expected["predicate"][k]
        ]
        fields = [*(k for k in top if k != "predicate"), *(f"predicate.{k}" for k in inner)]
        return f"the signed statement is not what the records give: {', '.join(fields)} " + (
            "differs" if len(fields) == 1 else "differ"
        )
    return None


Invariant = Callable[[list[Record], bool], Iterator[Problem]]
# Add checks here: each walks the records in order and yields the problems it finds.
INVARIANTS: list[Invariant] = [
    check_pushes_were_approved,
    check_decisions_bind_content,
    check_pauses_held,
    check_signed_acceptances,
    check_signed_approvals,
]


# --- exports ----------------------------------------------------------------------------------


def _record_checks(report: Report, records: list[Record], partial: bool) -> None:
    report.records = len(records)
    if records:
        report.first_seq, report.last_seq = records[0].seq, records[-1].seq
    report.problems.extend(check_chain(records))
    for invariant in INVARIANTS:
        report.problems.extend(invariant(records, partial))
    report.pushes_checked = sum(1 for r in records if r.action == "push.allowed")
    signed = signed_acceptance_notes(records)
    report.signed_checked = len(signed)
    report.notes.extend(signed[:50])
    if len(signed) > 50:
        report.notes.append(f"... and {len(signed) - 50} more signed acceptances")
    approvals = signed_approvals(records, partial)[1]
    report.approvals_signed = len(approvals)
    report.notes.extend(approvals[:50])
    if len(approvals) > 50:
        report.notes.append(f"... and {len(approvals) - 50} more approvals signed by security keys")
    report.pauses = [w.to_dict() for w in check_pauses([r.body for r in records]).windows]
    if partial and records:
        report.notes.append(
            f"the export starts at seq {records[0].seq}: the chain is verified from its first "
            f"record's prev_hash {records[0].body['prev_hash']}, which must be the hash of seq "
            f"{records[0].seq - 1} in the full log; pushes of requests held earlier are not checked"
        )


def verify_jsonl(
    data: bytes, trusted_key: bytes | None = None, held: list[Checkpoint] | None = None
) -> Report:
    """A bare JSON Lines export: records, chain and invariants (it carries no signatures), and
    the checkpoints you hold (signed by ``trusted_key``)."""
    report = Report()
    records, problems = parse_records(data)
    report.problems.extend(problems)
    _record_checks(report, records, partial=bool(records) and records[0].seq != 1)
    if held:
        if trusted_key is None:
            raise VerifyError("checking held checkpoints needs the trusted --public-key")
        report.problems.extend(check_held_checkpoints(held, records, None, {trusted_key}, None))
        _held_notes(report, held, records)
    else:
        report.notes.append("a JSON Lines export has no checkpoints: no signatures were checked")
    return report


def _read_zip(data: bytes) -> dict[str, bytes]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return {info.filename: archive.read(info) for info in archive.infolist()}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise VerifyError(f"not a readable zip file ({exc})") from None


def verify_bundle(
    data: bytes, trusted_key: bytes | None = None, held: list[Checkpoint] | None = None
) -> Report:
    """A bundle zip: records, chain, invariants, checkpoints, keys, manifest and file digests,
    and the checkpoints you hold."""
    files = _read_zip(data)
    report = Report()
    for required in ("records.jsonl", "manifest.json", "manifest.sig", "public-key.pem"):
        if required not in files:
            raise VerifyError(f"not a gate audit bundle: {required} is missing")
    try:
        manifest = json.loads(files["manifest.json"])
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise VerifyError("manifest.json is not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise VerifyError(f"manifest.json is not a {BUNDLE_FORMAT} manifest")

    records, problems = parse_records(files["records.jsonl"])
    report.problems.extend(problems)
    partial = bool(records) and records[0].seq != 1
    _record_checks(report, records, partial)

    bundle_key = public_key_raw(files["public-key.pem"])
    if trusted_key is None:
        trusted = {bundle_key}
        report.notes.append(
            "no --public-key given: trusting the key inside the bundle, which only shows the "
            "bundle is consistent; pass the key you obtained from the operator to prove origin"
        )
    else:
        trusted = {trusted_key}
    checkpoints = []
    for name in sorted(n for n in files if n.startswith("checkpoints/") and not n.endswith("/")):
        try:
            checkpoints.append(parse_checkpoint(name, files[name].decode("utf-8")))
        except (ValueError, UnicodeDecodeError) as exc:
            report.problems.append(Problem(name, f"unreadable checkpoint: {exc}"))
    report.checkpoints = len(checkpoints)
    trusted = extend_trust(trusted, checkpoints, records)
    if bundle_key not in trusted:
        report.problems.append(
            Problem(
                "public-key.pem",
                f"the bundle's signing key {fingerprint(bundle_key)[:16]} is not the trusted key "
                "and no key rotation in the log introduces it",
            )
        )
    origin = manifest.get("origin")
    report.problems.extend(check_checkpoints(checkpoints, records, trusted, origin))
    report.problems.extend(_check_manifest(manifest, files, records, trusted, origin))
    envelope_problems, report.envelopes_checked = check_envelopes(files, records, trusted)
    report.problems.extend(envelope_problems)
    if held:
        report.problems.extend(check_held_checkpoints(held, records, checkpoints, trusted, origin))
        _held_notes(report, held, records)
    return report


def _check_manifest(
    manifest: dict[str, Any],
    files: dict[str, bytes],
    records: list[Record],
    trusted: set[bytes],
    origin: str | None,
) -> Iterator[Problem]:
    digest = hashlib.sha256(files["manifest.json"]).hexdigest()
    try:
        note = parse_note(files["manifest.sig"].decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        yield Problem("manifest.sig", f"unreadable: {exc}")
        return
    if note.text != f"{origin}\nmanifest sha256 {digest}\n":
        yield Problem("manifest.sig", "does not sign this manifest.json (it was changed)")
    good, bad = signed_by(note, trusted)
    if bad or not good:
        yield Problem("manifest.sig", "not validly signed by a trusted key")
    expected = {
        "count": len(records),
        "first_seq": records[0].seq if records else None,
        "last_seq": records[-1].seq if records else None,
        "head_hash": records[-1].body["hash"] if records else None,
    }
    for key, value in expected.items():
        if manifest.get(key) != value:
            yield Problem(
                "manifest.json", f"{key} is {manifest.get(key)!r} but the records give {value!r}"
            )
    listed = manifest.get("files") or {}
    unsigned = {"manifest.json", "manifest.sig", "SHA256SUMS"}
    for name, content in sorted(files.items()):
        if name in unsigned or name.endswith("/"):
            continue
        if name not in listed:
            yield Problem(name, "is in the bundle but not listed in the manifest")
        elif hashlib.sha256(content).hexdigest() != listed[name]:
            yield Problem(name, "does not match its SHA-256 in the manifest")
    for name in sorted(set(listed) - set(files)):
        yield Problem(name, "is listed in the manifest but missing from the bundle")
    sums = files.get("SHA256SUMS", b"").decode("utf-8", "replace").splitlines()
    for line in sums:
        want, _, name = line.partition("  ")
        if name in files and hashlib.sha256(files[name]).hexdigest() != want:
            yield Problem("SHA256SUMS", f"{name} does not match its line")


def verify_path(
    path: str | Path,
    public_key_pem: bytes | None = None,
    held_checkpoints: Iterable[str | Path] = (),
) -> Report:
    """Verify a bundle (.zip) or a JSON Lines export, against the checkpoint files you hold;
    raises VerifyError if any of them cannot be read."""
    path = Path(path)
    try:
        data = path.read_bytes()
        held_files = [(str(p), Path(p).read_bytes()) for p in held_checkpoints]
    except OSError as exc:
        raise VerifyError(f"cannot read {exc.filename}: {exc.strerror}") from None
    held = read_held_checkpoints(held_files)
    trusted = public_key_raw(public_key_pem) if public_key_pem is not None else None
    if data[:2] == b"PK" or path.suffix == ".zip":
        return verify_bundle(data, trusted, held)
    if trusted is not None and not held:
        raise VerifyError(
            "a JSON Lines export carries no signatures; --public-key needs a bundle or --checkpoint"
        )
    return verify_jsonl(data, trusted, held)


def report_lines(report: Report, limit: int = 50) -> list[str]:
    """The problems (first ``limit``, the first one is where verification first failed), notes
    and a summary line."""
    lines = [f"FAIL {problem}" for problem in report.problems[:limit]]
    if len(report.problems) > limit:
        lines.append(f"FAIL ... and {len(report.problems) - limit} more problems")
    lines += [f"note: {note}" for note in report.notes]
    lines += [pause_line(p) for p in report.pauses]
    span = f"seq {report.first_seq}..{report.last_seq}" if report.records else "no records"
    summary = (
        f"{report.records} records ({span}), {report.checkpoints} checkpoints, "
        f"{report.pushes_checked} accepted pushes checked against the approval policy"
        + (
            f", {report.signed_checked} signed commits checked against the key registry"
            if report.signed_checked
            else ""
        )
        + (
            f", {report.approvals_signed} approvals signed by security keys"
            if report.approvals_signed
            else ""
        )
        + (
            f", {report.envelopes_checked} in-toto review attestations"
            if report.envelopes_checked
            else ""
        )
    )
    if report.ok:
        lines.append(f"OK: verified {summary}")
    else:
        lines.append(f"FAILED: {len(report.problems)} problem(s) in {summary}")
    return lines


def pause_line(pause: dict[str, Any]) -> str:
    end = (
        f"{pause['end']} ({pause['end_kind']}"
        + (f" by {pause['ended_by']})" if pause["end_kind"] == "stopped" else ")")
        if pause["end"]
        else "still in force"
    )
    return (
        f"pause {pause['pause']} of {', '.join(pause['scope'])} by {pause['started_by']}: "
        f"{pause['start']} to {end}; {pause['refused_pushes']} push(es) refused, "
        f"{pause['requests_held']} request(s) held, {pause['pending_at_end']} pending at its end, "
        f"{pause['approvals_during']} approval(s) given during it, "
        + (
            "HELD"
            if not pause["violations"]
            else f"VIOLATED at seq {', '.join(map(str, pause['violations']))}"
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("path", help="bundle (.zip) or JSON Lines export")
    parser.add_argument("--public-key", help="PEM file of the gate server's audit key")
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="NOTE",
        help="a signed checkpoint you kept from earlier (repeatable)",
    )
    args = parser.parse_args(argv)
    try:
        key = Path(args.public_key).read_bytes() if args.public_key else None
        report = verify_path(args.path, key, args.checkpoint)
    except OSError as exc:
        print(f"error: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    except VerifyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for line in report_lines(report):
        print(line)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
