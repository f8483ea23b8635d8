"""The committed signed-approval vectors (tests/vectors/signed-approvals-v1) still hold: each
approval's canonical statement, its SHA-256 (the challenge) and the bytes its key signed; the
log verifies with one note per approval; each forgery gives exactly its own problem; the DSSE
envelope of the review attestation verifies with the audit key over the documented PAE. If
this fails, the record format changed: every export ever made depends on it."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gate.audit.keys import SigningKey
from gate.audit.verify import (
    Record,
    b64url_decode,
    canonical_json,
    check_envelopes,
    dsse_envelope,
    parse_records,
    review_statements,
    verify_jsonl,
    verify_webauthn_signature,
)
from tests.vectors.make_signed_approvals_v1 import AUDIT_SEED, B, build, chain, jsonl

VECTORS = Path(__file__).parents[1] / "vectors" / "signed-approvals-v1"


def expected() -> dict:  # type: ignore[type-arg]
    return json.loads((VECTORS / "expected.json").read_text(encoding="utf-8"))


def records(name: str = "records.jsonl") -> list[Record]:
    found, problems = parse_records((VECTORS / name).read_bytes())
    assert not problems
    return found


def test_regenerating_the_vectors_gives_the_committed_bytes() -> None:
    for name, data in build().items():
        assert (VECTORS / name).read_bytes() == data, f"{name} changed"


def test_each_statement_hash_is_the_challenge_and_the_signature_covers_the_documented_bytes() -> (
    None
):
    by_seq = {r.seq: r for r in records()}
    enrolled = {
        r.subject["credential_id"]: r.subject
        for r in by_seq.values()
        if r.action == "webauthn.enrolled"
    }
    algorithms = set()
    for want in expected()["approvals"]:
        proof = by_seq[want["seq"]].subject["webauthn"]
        assert canonical_json(proof["statement"]).decode() == want["canonical_statement"]
        digest = hashlib.sha256(want["canonical_statement"].encode()).hexdigest()
        assert digest == want["statement_sha256"] == proof["statement_sha256"]
        client = json.loads(b64url_decode(proof["client_data_json"]))
        assert b64url_decode(client["challenge"]).hex() == digest
        signed = bytes.fromhex(want["signed_hex"])
        key = enrolled[proof["credential_id"]]
        algorithms.add(key["algorithm"])
        assert verify_webauthn_signature(
            key["public_key"], key["algorithm"], b64url_decode(proof["signature"]), signed
        )
        assert not verify_webauthn_signature(
            key["public_key"], key["algorithm"], b64url_decode(proof["signature"]), signed + b"x"
        )
    assert algorithms == {-8, -7}  # EdDSA and ES256


def test_the_vector_log_verifies_with_one_note_per_signed_approval() -> None:
    report = verify_jsonl((VECTORS / "records.jsonl").read_bytes())
    assert report.ok, report.problems
    assert report.approvals_signed == 3
    assert [n for n in report.notes if "security key" in n] == expected()["notes"]


@pytest.mark.parametrize(
    "name", sorted(json.loads((VECTORS / "expected.json").read_text())["forgeries"])
)
def test_each_forgery_gives_its_own_problem(name: str) -> None:
    report = verify_jsonl((VECTORS / name).read_bytes())
    problems = [str(p) for p in report.problems]
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected()["forgeries"][name]), problems[0]


def test_the_review_attestation_is_a_dsse_envelope_signed_over_the_pae() -> None:
    key = SigningKey(Ed25519PrivateKey.from_private_bytes(AUDIT_SEED))
    data = (VECTORS / "request-00000001.intoto.json").read_bytes()
    envelope = json.loads(data)
    want = expected()["dsse"]
    payload = base64.b64decode(envelope["payload"])
    assert envelope["payloadType"] == want["payload_type"]
    assert hashlib.sha256(payload).hexdigest() == want["payload_sha256"]
    assert envelope["signatures"][0]["keyid"] == want["keyid"] == key.fingerprint
    pae = bytes.fromhex(want["pae_hex"])
    assert pae == b"DSSEv1 28 application/vnd.in-toto+json %d %s" % (len(payload), payload)
    key.private.public_key().verify(base64.b64decode(envelope["signatures"][0]["sig"]), pae)
    statement = json.loads(payload)
    assert statement["predicate"]["twoPartyReview"] is True
    files = {"attestations/request-00000001.intoto.json": data}
    assert check_envelopes(files, records(), {key.public_raw}) == ([], 1)
    # The same envelope against the log without bob's approval: the predicate no longer matches.
    edited = [
        r
        for r in records()
        if not (r.action == "decision.approve" and r.subject["reviewer"] == "bob")
    ]
    problems, good = check_envelopes(files, edited, {key.public_raw})
    assert good == 0 and "predicate.reviewers" in str(problems[0]), problems


def test_a_partial_export_names_approvals_it_cannot_check() -> None:
    """From seq 6 on, the enrolments are before the export: noted, not failed, not claimed."""
    lines = (VECTORS / "records.jsonl").read_bytes().splitlines(keepends=True)
    report = verify_jsonl(b"".join(lines[5:]))
    assert report.ok, report.problems
    notes = [n for n in report.notes if "security key" in n]
    assert len(notes) == 3
    assert all(
        n.endswith("(enrolled before this export starts: the signature is not checked)")
        for n in notes
    )


def test_a_signed_statement_moved_to_another_time_is_named() -> None:
    recs = [json.loads(line) for line in (VECTORS / "records.jsonl").read_bytes().splitlines()]
    recs[6]["time"] = "2026-02-02T12:00:07.000000Z"  # alice's approval, recorded a day later
    report = verify_jsonl(jsonl(chain(recs)))
    (problem,) = [str(p) for p in report.problems]
    assert "the statement was signed at 2026-02-01T12:00:07Z, not in the 600 seconds" in problem


def test_an_approval_by_a_credential_removed_before_it_is_named() -> None:
    recs = [json.loads(line) for line in (VECTORS / "records.jsonl").read_bytes().splitlines()]
    alices = recs[2]["subject"]["credential_id"]
    removed = {
        **recs[4],
        "action": "webauthn.revoked",
        "subject": {"user": "alice", "credential_id": alices, "revoked_at": "2026-02-01T12:00:05Z"},
    }
    recs.insert(5, removed)  # after the enrolments, before alice's first approval
    for seq, record in enumerate(recs, 1):
        record["seq"] = seq
    problems = [str(p) for p in verify_jsonl(jsonl(chain(recs))).problems]
    assert len(problems) == 2, problems  # both of alice's approvals with that key
    assert all(
        f"the credential {alices} was revoked at seq 6, before this approval" in p for p in problems
    )


def test_a_missing_forged_or_edited_review_attestation_is_named() -> None:
    key = SigningKey(Ed25519PrivateKey.from_private_bytes(AUDIT_SEED))
    name = "attestations/request-00000001.intoto.json"
    data = (VECTORS / "request-00000001.intoto.json").read_bytes()
    assert [str(p) for p in check_envelopes({}, records(), {key.public_raw})[0]] == [
        f"{name}: is missing: request 1 was approved, but has no attestation"
    ]
    stranger = SigningKey(Ed25519PrivateKey.from_private_bytes(bytes(32)))
    statement = json.loads(base64.b64decode(json.loads(data)["payload"]))
    forged = dsse_envelope(statement, stranger.private.sign, stranger.fingerprint)
    (problem,) = check_envelopes({name: forged}, records(), {key.public_raw})[0]
    assert str(problem) == f"{name}: not signed by a trusted key (DSSE over the PAE)"
    envelope = json.loads(data)
    statement["predicate"]["twoPartyReview"] = False
    envelope["payload"] = base64.b64encode(canonical_json(statement)).decode()
    (problem,) = check_envelopes(
        {name: json.dumps(envelope).encode()}, records(), {key.public_raw}
    )[0]
    assert (
        str(problem) == f"{name}: the DSSE signature by key {key.fingerprint[:16]} does not verify"
    )


def approved(recs: list[dict], request: int, approvers: list[str]) -> dict:  # type: ignore[type-arg]
    """A ``request.approved`` record as the server writes it, after the last record."""
    last = recs[-1]
    return {
        **last,
        "seq": last["seq"] + 1,
        "time": "2026-02-01T12:00:12.000000Z",
        "actor": "system",
        "actor_auth": "system",
        "action": "request.approved",
        "subject": {
            "request": request,
            "repository": "models",
            "ref": "refs/heads/main",
            "keys": [B],
            "approvers": approvers,
            "progress": {"model": [len(approvers), len(approvers)]},
        },
    }


def test_one_human_approving_is_not_two_party_reviewed() -> None:
    recs = [json.loads(line) for line in (VECTORS / "records.jsonl").read_bytes().splitlines()]
    # Request 2, needing one approval, approved by alice alone.
    recs[9]["subject"]["required"] = {"model": 1}
    recs.append(approved(recs, 2, ["alice"]))
    report = verify_jsonl(jsonl(chain(recs)))
    assert report.ok, report.problems
    found = review_statements(parse_records(jsonl(recs))[0])
    assert sorted(found) == [1, 2]
    two, one = found[1]["predicate"], found[2]["predicate"]
    assert (two["distinctHumans"], two["twoPartyReview"]) == (2, True)
    assert two["slsaVerifiedProperties"] == ["SLSA_SOURCE_TWO_PARTY_REVIEWED"]
    assert [r["reviewer"] for r in one["reviewers"]] == ["alice"]
    assert (one["distinctHumans"], one["twoPartyReview"]) == (1, False)
    assert one["slsaVerifiedProperties"] == []


def test_two_accounts_of_one_human_are_not_two_party_reviewed() -> None:
    """distinct_approvers tells humans apart by email: alice and an account of hers."""
    recs = [json.loads(line) for line in (VECTORS / "records.jsonl").read_bytes().splitlines()]
    recs[7]["subject"]["reviewer_email"] = "Alice@example.com"  # bob's approval, alice's email
    predicate = review_statements(parse_records(jsonl(chain(recs)))[0])[1]["predicate"]
    assert [r["reviewer"] for r in predicate["reviewers"]] == ["alice", "bob"]
    assert (predicate["distinctHumans"], predicate["twoPartyReview"]) == (1, False)
    assert predicate["slsaVerifiedProperties"] == []
