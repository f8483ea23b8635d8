"""gate audit verify on signed acceptances (``push.accepted`` ``signed``) against the key
registry in the same records (``key.added`` / ``key.revoked``): each way of lying is named.
Keys come from fixed seeds and Ed25519 signatures are deterministic, so every run checks the
same bytes; signatures are crafted in OpenSSH's SSHSIG format (tests/support/signing.SkKey),
plain and security-key."""

from __future__ import annotations

import base64
import copy
import hashlib
from typing import Any

import pytest

from gate.audit.verify import GENESIS, canonical_json, record_hash, verify_jsonl
from tests.support.signing import SkKey, with_signature

ALICE = SkKey(None, "alice", security_key=False, seed=bytes(range(32)))
ALICE_SK = SkKey(None, "alice-sk", seed=bytes(range(1, 33)))
AGENT = SkKey(None, "agent", security_key=False, seed=bytes(range(2, 34)))
UNSIGNED = (
    b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
    b"author Alice <alice@example.com> 1700000000 +0000\n"
    b"committer Alice <alice@example.com> 1700000000 +0000\n\nchange model\n"
)
PUSHED_AT = "2026-12-01T12:00:00Z"


def commit_id(raw: bytes) -> str:
    return hashlib.sha1(b"commit %d\0" % len(raw) + raw).hexdigest()


def key_added(key: SkKey, account: str, kind: str = "human") -> dict[str, Any]:
    return {
        "fingerprint": key.fingerprint,
        "account": account,
        "account_kind": kind,
        "kind": "ssh",
        "key_type": key.type.decode(),
        "public_key": key.line,
        "added_at": "2026-11-01T00:00:00Z",
        "revoked_at": None,
    }


def accepted(raw: bytes, key: SkKey, account: str = "alice") -> dict[str, Any]:
    return {
        "report_id": "0" * 32,
        "repository": "models",
        "pusher": "alice",
        "pushed_at": PUSHED_AT,
        "policy": {"sha256": "ab" * 32, "guards": ["model"]},
        "refs": [],
        "commits": 1,
        "guarded": [],
        "agent_commits": [],
        "agent_commits_truncated": False,
        "signed": [
            {
                "id": commit_id(raw),
                "guards": ["model"],
                "fingerprint": key.fingerprint,
                "account": account,
                "commit": base64.b64encode(raw).decode(),
            }
        ],
    }


def chain(events: list[tuple[str, dict[str, Any]]]) -> bytes:
    lines, prev = [], GENESIS
    for seq, (action, subject) in enumerate(events, 1):
        body = {
            "schema": 1,
            "seq": seq,
            "time": f"2026-12-01T00:00:{seq:02d}.000000Z",
            "actor": "system",
            "actor_auth": "cli",
            "action": action,
            "subject": subject,
            "policy_sha256": None,
            "prev_hash": prev,
        }
        body["hash"] = prev = record_hash(body)
        lines.append(canonical_json(body))
    return b"\n".join(lines) + b"\n"


SIGNED = with_signature(UNSIGNED, ALICE.sign(UNSIGNED))
SIGNED_SK = with_signature(UNSIGNED, ALICE_SK.sign(UNSIGNED, 0x05))


def reasons(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    report = verify_jsonl(chain(events))
    return [problem.reason.split(" for its signature: ")[-1] for problem in report.problems]


@pytest.mark.parametrize(("key", "raw"), [(ALICE, SIGNED), (ALICE_SK, SIGNED_SK)])
def test_a_good_acceptance_verifies_offline(key: SkKey, raw: bytes) -> None:
    report = verify_jsonl(chain([("key.added", key_added(key, "alice")),
                                 ("push.accepted", accepted(raw, key))]))  # fmt: skip
    assert report.ok, report.problems
    assert report.signed_checked == 1
    assert f"signed by alice's key {key.fingerprint} (signature verified offline)" in "\n".join(
        report.notes
    )


def test_each_lie_is_named() -> None:
    good = [("key.added", key_added(ALICE, "alice")), ("push.accepted", accepted(SIGNED, ALICE))]
    assert reasons(good) == []

    # The commit's bytes changed, its id kept.
    changed = copy.deepcopy(good)
    tampered = SIGNED.replace(b"change model", b"change modem")
    changed[1][1]["signed"][0]["commit"] = base64.b64encode(tampered).decode()
    assert reasons(changed) == ["the commit object does not hash to its id"]

    # ... and its id recomputed: the signature no longer covers it.
    changed[1][1]["signed"][0]["id"] = commit_id(tampered)
    assert reasons(changed) == ["the signature does not verify with the registered key"]

    # The registered key swapped for another (the fingerprint kept).
    swapped = copy.deepcopy(good)
    swapped[0][1]["public_key"] = AGENT.line
    assert reasons(swapped) == ["the signature was made by another key than the registered one"]

    # Signed by an agent's key, claimed as a human's.
    agent_raw = with_signature(UNSIGNED, AGENT.sign(UNSIGNED))
    agents = [("key.added", key_added(AGENT, "agent-x", "agent")),
              ("push.accepted", accepted(agent_raw, AGENT, "alice"))]  # fmt: skip
    assert reasons(agents) == [
        f"the key {AGENT.fingerprint} is agent account agent-x's, not a human's named alice"
    ]

    # Registered only after the push.
    late = [good[1], good[0]]
    assert reasons(late) == [
        f"the key {ALICE.fingerprint} is not in the key registry before this push"
    ]

    # Revoked from before the push, recorded after it.
    revoked = {**key_added(ALICE, "alice"), "revoked_at": "2026-11-30T00:00:00Z"}
    assert reasons([*good, ("key.revoked", revoked)]) == [
        f"the key {ALICE.fingerprint} (alice) was revoked from 2026-11-30T00:00:00Z, before the "
        f"push at {PUSHED_AT}"
    ]
    # Revoked from after the push: the acceptance stands.
    later = {**revoked, "revoked_at": "2026-12-02T00:00:00Z"}
    assert reasons([*good, ("key.revoked", later)]) == []
