"""Regenerate tests/vectors/audit-v1 (run from the repository root). The files are committed;
tests/test_audit_vectors.py recomputes them, and another implementation can do the same.

The signing key is derived from a published seed: it is a TEST key, never use it for anything.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gate.audit.keys import SigningKey, sign_note
from gate.audit.verify import GENESIS, canonical_json, fingerprint, key_id, record_hash

HERE = Path(__file__).resolve().parent / "audit-v1"
SEED = bytes(range(32))  # 000102...1f
ORIGIN = "vectors.gate.invalid/audit"
A = "1" * 40
POLICY = "ab" * 32

EVENTS = [
    (
        "user.added",
        "system",
        "cli",
        {"user": "alice", "name": "Alice Ä", "email": "alice@example.com", "role": "reviewer"},
        None,
    ),
    (
        "request.held",
        "hook-token:1:ci",
        "hook-token",
        {
            "request": 1,
            "repository": "repo",
            "ref": "refs/heads/main",
            "old": "0" * 40,
            "new": A,
            "pusher": "agent-bot",
            "required": {"training": 1},
            "items": [
                {
                    "key": A,
                    "kind": "commit",
                    "author": "ci@bots.example.com",
                    "committer": "ci@bots.example.com",
                    "guards": {"training": ["train/loop.py"]},
                    "signals": [{"kind": "trailer", "evidence": "Co-Authored-By: Claude"}],
                    "diff_sha256": "cd" * 32,
                }
            ],
        },
        POLICY,
    ),
    (
        "decision.approve",
        "alice",
        "session-password",
        {
            "request": 1,
            "reviewer": "alice",
            "reviewer_name": "Alice Ä",
            "reviewer_email": "alice@example.com",
            "comment": 'Looks right \u2713\n"quoted"',
        },
        POLICY,
    ),
    ("request.approved", "system", "system", {"request": 1, "approvers": ["alice"]}, POLICY),
    (
        "push.allowed",
        "hook-token:1:ci",
        "hook-token",
        {
            "repository": "repo",
            "ref": "refs/heads/main",
            "keys": [A],
            "requests": [1],
        },
        POLICY,
    ),
]

CANONICAL_CASES = [
    {"\u20ac": 1, "\r": 2, "\ufb33": 3, "1": 4, "\U0001f600": 5, "\u0080": 6, "\u00f6": 7},
    {"s": 'tab\tbell\u0007 slash/ quote" back\\ del\u007f lone\ud800 é'},
    [None, True, False, 0, -1, 9007199254740991, [], {}],
]


def records() -> list[dict]:
    out, prev = [], GENESIS
    for seq, (action, actor, auth, subject, policy) in enumerate(EVENTS, start=1):
        body = {
            "schema": 1,
            "seq": seq,
            "time": f"2026-01-0{seq}T12:00:00.000000Z",
            "actor": actor,
            "actor_auth": auth,
            "action": action,
            "subject": subject,
            "policy_sha256": policy,
            "prev_hash": prev,
        }
        body["hash"] = prev = record_hash(body)
        out.append(body)
    return out


def build() -> dict[str, bytes]:
    key = SigningKey(Ed25519PrivateKey.from_private_bytes(SEED))
    recs = records()
    head = recs[-1]["hash"]
    note = f"{ORIGIN}\n{len(recs)}\n{base64.b64encode(bytes.fromhex(head)).decode()}\ntime 2026-01-06T00:00:00.000000Z\n"
    expected = {
        "origin": ORIGIN,
        "private_key_seed_hex_TEST_ONLY": SEED.hex(),
        "public_key_base64": base64.b64encode(key.public_raw).decode(),
        "public_key_fingerprint": fingerprint(key.public_raw),
        "note_key_id_hex": key_id(ORIGIN, key.public_raw).hex(),
        "records": [
            {
                "seq": r["seq"],
                "canonical_body": canonical_json(
                    {k: v for k, v in r.items() if k != "hash"}
                ).decode(),
                "sha256": r["hash"],
            }
            for r in recs
        ],
        "head": head,
        "canonical_cases": [
            {
                "input_json": json.dumps(case),
                "canonical": canonical_json(case).decode(),
                "sha256": hashlib.sha256(canonical_json(case)).hexdigest(),
            }
            for case in CANONICAL_CASES
        ],
    }
    return {
        "records.jsonl": b"".join(canonical_json(r) + b"\n" for r in recs),
        "checkpoint.note": sign_note(note, ORIGIN, [key]).encode(),
        "public-key.pem": key.public_pem,
        "expected.json": (json.dumps(expected, indent=2, ensure_ascii=False) + "\n").encode(),
    }


if __name__ == "__main__":
    HERE.mkdir(exist_ok=True)
    for name, data in build().items():
        (HERE / name).write_bytes(data)
        print("wrote", HERE / name)
