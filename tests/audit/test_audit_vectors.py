"""The committed test vectors (tests/vectors/audit-v1) still hold: the canonical encoding, the
record hashes, the chain and the signed checkpoint. If this fails, the format changed: that
breaks every export ever made, so bump the schema instead."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from gate.audit.verify import (
    canonical_json,
    parse_checkpoint,
    public_key_raw,
    read_held_checkpoints,
    record_hash,
    signed_by,
    verify_jsonl,
)
from tests.vectors.make_audit_v1 import build

VECTORS = Path(__file__).parents[1] / "vectors" / "audit-v1"


def expected() -> dict:  # type: ignore[type-arg]
    return json.loads((VECTORS / "expected.json").read_text(encoding="utf-8"))


def test_record_hashes_are_sha256_of_the_documented_canonical_bytes() -> None:
    lines = (VECTORS / "records.jsonl").read_bytes().splitlines()
    for line, want in zip(lines, expected()["records"], strict=True):
        record = json.loads(line)
        body = {k: v for k, v in record.items() if k != "hash"}
        assert canonical_json(body).decode() == want["canonical_body"]
        assert hashlib.sha256(want["canonical_body"].encode()).hexdigest() == want["sha256"]
        assert record_hash(record) == record["hash"] == want["sha256"]
        assert canonical_json(record) == line  # the export line is itself canonical


def test_canonical_cases_follow_rfc_8785() -> None:
    for case in expected()["canonical_cases"]:
        value = json.loads(case["input_json"])
        assert canonical_json(value).decode() == case["canonical"]
        assert hashlib.sha256(canonical_json(value)).hexdigest() == case["sha256"]
    # RFC 8785 section 3.2.3: keys sort by UTF-16 code units, so U+1F600 sorts before U+FB33.
    first = expected()["canonical_cases"][0]["canonical"]
    assert first.index("\U0001f600") < first.index("\ufb33")


def test_the_vector_chain_and_checkpoint_verify() -> None:
    report = verify_jsonl((VECTORS / "records.jsonl").read_bytes())
    assert report.ok and report.pushes_checked == 1, report.problems
    key = public_key_raw((VECTORS / "public-key.pem").read_bytes())
    checkpoint = parse_checkpoint("checkpoint.note", (VECTORS / "checkpoint.note").read_text())
    assert signed_by(checkpoint.note, [key])[0] == {key}
    assert checkpoint.size == 5 and checkpoint.head == expected()["head"]
    assert checkpoint.note.signatures[0].key_id.hex() == expected()["note_key_id_hex"]


def test_regenerating_the_vectors_gives_the_committed_bytes() -> None:
    for name, data in build().items():
        assert (VECTORS / name).read_bytes() == data, f"{name} changed"


def test_a_held_checkpoint_checks_the_vector_export() -> None:
    """Step 6 on the vectors: the committed checkpoint (size 5) held against the whole export,
    against one cut to 4 records, and against one with record 5 rewritten and re-hashed."""
    key = public_key_raw((VECTORS / "public-key.pem").read_bytes())
    held = read_held_checkpoints([("held.note", (VECTORS / "checkpoint.note").read_bytes())])
    lines = (VECTORS / "records.jsonl").read_bytes().splitlines(keepends=True)
    assert verify_jsonl(b"".join(lines), key, held).ok
    cut = verify_jsonl(b"".join(lines[:4]), key, held)
    time = held[0].time
    assert [str(p) for p in cut.problems] == [
        f"held.note: TRUNCATED: this checkpoint, signed {time}, says the log held 5 records, "
        "but the export ends at seq 4: records 5..5 were removed from the log"
    ]
    last = json.loads(lines[4])
    last["actor"] = "mallory"
    last["hash"] = record_hash(last)
    rewritten = verify_jsonl(b"".join([*lines[:4], canonical_json(last) + b"\n"]), key, held)
    assert [str(p) for p in rewritten.problems] == [
        f"held.note: REWRITTEN: this checkpoint, signed {time}, names head "
        f"{expected()['head'][:16]}... at seq 5, but the export's chain there is "
        f"{last['hash'][:16]}...: records up to seq 5 were changed after it was signed"
    ]
