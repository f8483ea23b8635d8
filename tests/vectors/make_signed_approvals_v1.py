"""Regenerate tests/vectors/signed-approvals-v1 (run from the repository root:
``python -m tests.vectors.make_signed_approvals_v1``). The files are committed;
tests/audit/test_signed_approval_vectors.py recomputes them, and another implementation of the
offline check can read them.

Two reviewers' credentials (alice EdDSA, bob ES256 with RFC 6979 deterministic signatures),
derived from published seeds, sign the approval statements of a request to a guard with
``approval = "webauthn"``; the same log with a tampered statement, a swapped credential, a
replayed assertion, a decision record edited under its signed statement, an assertion moved to
another request and a missing one gives each its expected problem. The audit key signs the
in-toto review attestation (DSSE). Every key here is a TEST key: never use one for anything.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gate.audit.keys import SigningKey
from gate.audit.verify import (
    GENESIS,
    INTOTO_PAYLOAD_TYPE,
    STATEMENT_TYPE,
    Record,
    attestation_name,
    canonical_json,
    dsse_envelope,
    pae,
    record_hash,
    review_statements,
)
from tests.support.authenticator import EDDSA, ES256, SoftAuthenticator, b64url

HERE = Path(__file__).resolve().parent / "signed-approvals-v1"
AUDIT_SEED = bytes(range(32))  # the audit-v1 vectors' key
RP_ID, ORIGIN = "gate.example", "https://gate.example"
A, B = "1" * 40, "2" * 40
CONTENT = {A: "cd" * 32, B: "ef" * 32}
POLICY = "ab" * 32


def keys() -> dict[str, SoftAuthenticator]:
    return {
        "alice": SoftAuthenticator(b"alice-vector", RP_ID, ORIGIN, algorithm=EDDSA),
        "bob": SoftAuthenticator(b"bob-vector", RP_ID, ORIGIN, algorithm=ES256, counter=41),
        "alice-spare": SoftAuthenticator(b"alice-spare-vector", RP_ID, ORIGIN, algorithm=ES256),
    }


def enrolled(name: str, key: SoftAuthenticator, label: str) -> dict[str, Any]:
    return {
        "user": name,
        "user_email": f"{name}@example.com",
        "credential_id": key.id,
        "name": label,
        "algorithm": key.algorithm,
        "public_key": key.spki_pem(),
        "rp_id": RP_ID,
        "origin": ORIGIN,
        "sign_count": key.counter,
        "aaguid": "00000000-0000-0000-0000-000000000000",
        "user_verified": True,
        "enrolled_at": "2026-02-01T12:00:00Z",
    }


def held(request: int, commit: str) -> dict[str, Any]:
    return {
        "request": request,
        "repository": "models",
        "ref": "refs/heads/main",
        "old": "0" * 40,
        "new": commit,
        "pusher": "agent-bot",
        "host": "git.example",
        "required": {"model": 2},
        "approval_methods": {"model": "webauthn"},
        "agent_owner": None,
        "items": [
            {
                "key": commit,
                "kind": "commit",
                "author": "ci@bots.example.com",
                "committer": "ci@bots.example.com",
                "guards": {"model": ["model/net.py"]},
                "signals": [{"kind": "email", "evidence": "ci@bots.example.com"}],
                "diff_sha256": "aa" * 32,
                "content_sha256": CONTENT[commit],
            }
        ],
    }


def approval(
    decision: int,
    request: int,
    commit: str,
    name: str,
    key: SoftAuthenticator,
    comment: str,
    time: str,
) -> dict[str, Any]:
    """A decision.approve subject as gate.server.services.decisions records it."""
    attested = hashlib.sha256(f"{commit} {'aa' * 32} {CONTENT[commit]}\n".encode()).hexdigest()
    statement = {
        "type": STATEMENT_TYPE,
        "repository": "models",
        "request": request,
        "ref": "refs/heads/main",
        "keys": [commit],
        "content_sha256": attested,
        "guards": ["model"],
        "decision": "approve",
        "comment": comment,
        "reviewer": name,
        "time": time,
    }
    digest = hashlib.sha256(canonical_json(statement)).digest()
    auth_data, client_data, signature = key.assertion_parts(digest)
    return {
        "request": request,
        "decision": decision,
        "repository": "models",
        "ref": "refs/heads/main",
        "keys": [commit],
        "diff_sha256": {commit: "aa" * 32},
        "content_sha256": attested,
        "held_content_sha256": {commit: CONTENT[commit]},
        "attestation": f"I reviewed commit {commit[:12]} in models, attested SHA-256 {attested}, for guard model.",
        "guards": ["model"],
        "reviewer": name,
        "reviewer_name": name.title(),
        "reviewer_email": f"{name}@example.com",
        "comment": comment,
        "webauthn": {
            "statement": statement,
            "statement_sha256": digest.hex(),
            "credential_id": key.id,
            "authenticator_data": b64url(auth_data),
            "client_data_json": b64url(client_data),
            "signature": b64url(signature),
            "origin": ORIGIN,
            "rp_id": RP_ID,
            "user_verified": True,
            "sign_count": key.counter,
        },
    }


def events() -> list[tuple[str, str, str, dict[str, Any]]]:
    k = keys()
    web = "session-password"
    signed = web + "+step-up-webauthn"
    return [
        ("user.added", "system", "cli", {"user": "alice", "email": "alice@example.com"}),
        ("user.added", "system", "cli", {"user": "bob", "email": "bob@example.com"}),
        ("webauthn.enrolled", "alice", web, enrolled("alice", k["alice"], "alice's key")),
        ("webauthn.enrolled", "bob", web, enrolled("bob", k["bob"], "bob's key")),
        ("webauthn.enrolled", "alice", web, enrolled("alice", k["alice-spare"], "alice's spare")),
        ("request.held", "hook-token:1:git", "hook-token", held(1, A)),
        (
            "decision.approve",
            "alice",
            signed,
            approval(1, 1, A, "alice", k["alice"], "Width is fine ✓", "2026-02-01T12:00:07Z"),
        ),
        (
            "decision.approve",
            "bob",
            signed,
            approval(2, 1, A, "bob", k["bob"], "Agreed.", "2026-02-01T12:00:08Z"),
        ),
        (
            "request.approved",
            "system",
            "system",
            {
                "request": 1,
                "repository": "models",
                "ref": "refs/heads/main",
                "keys": [A],
                "approvers": ["alice", "bob"],
                "progress": {"model": [2, 2]},
            },
        ),
        ("request.held", "hook-token:1:git", "hook-token", held(2, B)),
        (
            "decision.approve",
            "alice",
            signed,
            approval(3, 2, B, "alice", k["alice"], "Depth too.", "2026-02-01T12:00:11Z"),
        ),
    ]


def chain(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    prev = GENESIS
    for body in bodies:
        body["prev_hash"] = prev
        body["hash"] = prev = record_hash(body)
    return bodies


def records() -> list[dict[str, Any]]:
    return chain(
        [
            {
                "schema": 1,
                "seq": seq,
                "time": f"2026-02-01T12:00:{seq:02d}.000000Z",
                "actor": actor,
                "actor_auth": auth,
                "action": action,
                "subject": subject,
                "policy_sha256": POLICY if action != "user.added" else None,
                "prev_hash": "",
            }
            for seq, (action, actor, auth, subject) in enumerate(events(), start=1)
        ]
    )


ALICE_1, BOB_1, ALICE_2 = 6, 7, 10  # indexes of the approvals (seq 7, 8 and 11)
SPARE = 4  # alice's second key's enrolment


def _tampered(recs: list[dict[str, Any]]) -> None:
    subject = recs[ALICE_1]["subject"]
    subject["comment"] = subject["webauthn"]["statement"]["comment"] = "Ship it unread."


def _swapped(recs: list[dict[str, Any]]) -> None:
    bobs = recs[BOB_1]["subject"]["webauthn"]["credential_id"]
    recs[ALICE_1]["subject"]["webauthn"]["credential_id"] = bobs


def _swapped_spare(recs: list[dict[str, Any]]) -> None:
    spare = recs[SPARE]["subject"]["credential_id"]
    recs[ALICE_1]["subject"]["webauthn"]["credential_id"] = spare


def _replayed(recs: list[dict[str, Any]]) -> None:
    recs[ALICE_2]["subject"]["webauthn"] = copy.deepcopy(recs[ALICE_1]["subject"]["webauthn"])


def _edited_decision(recs: list[dict[str, Any]]) -> None:
    # The record says other commits, content and comment; the signed statement is left alone.
    subject = recs[ALICE_1]["subject"]
    subject["keys"], subject["content_sha256"] = [B], "00" * 32
    subject["comment"] = "Ship it unread."


def _moved(recs: list[dict[str, Any]]) -> None:
    # alice's request-1 proof carried to her request-2 approval, the original approval dropped
    # and the log renumbered, so that no copy of the assertion is left to give it away.
    recs[ALICE_2]["subject"]["webauthn"] = recs[ALICE_1]["subject"]["webauthn"]
    del recs[ALICE_1]
    for seq, record in enumerate(recs, start=1):
        record["seq"] = seq


def _missing(recs: list[dict[str, Any]]) -> None:
    del recs[ALICE_2]["subject"]["webauthn"]


FORGERIES = {
    "tampered-statement.jsonl": _tampered,
    "swapped-credential.jsonl": _swapped,
    "swapped-credential-same-reviewer.jsonl": _swapped_spare,
    "replayed-assertion.jsonl": _replayed,
    "edited-decision.jsonl": _edited_decision,
    "moved-assertion.jsonl": _moved,
    "missing-assertion.jsonl": _missing,
}


def jsonl(recs: list[dict[str, Any]]) -> bytes:
    return b"".join(canonical_json(r) + b"\n" for r in recs)


def build() -> dict[str, bytes]:
    recs = records()
    files = {"records.jsonl": jsonl(recs)}
    for name, edit in FORGERIES.items():
        forged = copy.deepcopy(recs)
        edit(forged)
        files[name] = jsonl(chain(forged))
    audit_key = SigningKey(Ed25519PrivateKey.from_private_bytes(AUDIT_SEED))
    statement = review_statements([Record(n, r) for n, r in enumerate(recs, 1)])[1]
    envelope = dsse_envelope(statement, audit_key.private.sign, audit_key.fingerprint)
    files[attestation_name(1).removeprefix("attestations/")] = envelope
    payload = canonical_json(statement)
    approvals = [r for r in recs if r["action"] == "decision.approve"]
    expected = {
        "rp_id": RP_ID,
        "origin": ORIGIN,
        "seeds_TEST_ONLY": {"alice": "alice-vector", "bob": "bob-vector"},
        "audit_key_seed_hex_TEST_ONLY": AUDIT_SEED.hex(),
        "approvals": [
            {
                "seq": r["seq"],
                "canonical_statement": canonical_json(
                    r["subject"]["webauthn"]["statement"]
                ).decode(),
                "statement_sha256": r["subject"]["webauthn"]["statement_sha256"],
                "signed_hex": (
                    base64.urlsafe_b64decode(r["subject"]["webauthn"]["authenticator_data"] + "==")
                    + hashlib.sha256(
                        base64.urlsafe_b64decode(
                            r["subject"]["webauthn"]["client_data_json"] + "=="
                        )
                    ).digest()
                ).hex(),
            }
            for r in approvals
        ],
        "notes": [
            f"request {r['subject']['request']} approved by {r['subject']['reviewer']}'s security "
            f"key {r['subject']['webauthn']['credential_id']} over statement "
            f"{r['subject']['webauthn']['statement_sha256']}"
            for r in approvals
        ],
        "forgeries": {
            "tampered-statement.jsonl": "record seq 7 (line 7): approval of request 1 by alice: TAMPERED statement",
            "swapped-credential.jsonl": "record seq 7 (line 7): approval of request 1 by alice: SWAPPED credential: gW6K7dCBaLeKN9pFcpCgxQ is enrolled for bob",
            "swapped-credential-same-reviewer.jsonl": "record seq 7 (line 7): approval of request 1 by alice: SWAPPED credential: the signature does not verify",
            "replayed-assertion.jsonl": "record seq 11 (line 11): approval of request 2 by alice: REPLAYED assertion",
            "edited-decision.jsonl": "record seq 7 (line 7): approval of request 1 by alice: the signed statement is not this decision's: keys, content_sha256, comment differ from the decision record",
            "moved-assertion.jsonl": "record seq 10 (line 10): approval of request 2 by alice: REPLAYED assertion: it signs the statement of request 1, not request 2",
            "missing-assertion.jsonl": "record seq 11 (line 11): approval of request 2 by alice carries no security-key assertion",
        },
        "dsse": {
            "payload_type": INTOTO_PAYLOAD_TYPE,
            "pae_hex": pae(INTOTO_PAYLOAD_TYPE, payload).hex(),
            "payload_sha256": hashlib.sha256(payload).hexdigest(),
            "keyid": audit_key.fingerprint,
        },
    }
    files["expected.json"] = (json.dumps(expected, indent=2, ensure_ascii=False) + "\n").encode()
    return files


if __name__ == "__main__":
    HERE.mkdir(exist_ok=True)
    for name, data in build().items():
        (HERE / name).write_bytes(data)
        print("wrote", HERE / name)
