"""Tampering with an exported bundle is detected, and the verifier names the record or file.

The history is made by the real services on a real database; the bundle by the real export.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gate.audit.export import Period
from gate.audit.keys import SigningKey, new_key, sign_note
from gate.audit.verify import Report, canonical_json, record_hash, verify_bundle, verify_path
from gate.server.database import command
from gate.server.services import audit
from gate.server.services.actor import Actor
from tests.support.auditlog import PASSWORD, build_history, read_zip, write_zip


def export_bundle(app) -> bytes:  # type: ignore[no-untyped-def]
    from gate.server.services.exports import export_audit

    with app.app_context():
        return export_audit("bundle", Period()).data


@pytest.fixture
def history(app):  # type: ignore[no-untyped-def]
    from gate.server.services.accounts import add_user
    from gate.server.services.checkpoints import create_checkpoint

    made = build_history(app)
    with app.app_context():
        made["checkpoint"] = create_checkpoint().size
    with command(app):
        for name, full in (("erin", "Erin Late"), ("frank", "Frank Later")):
            add_user(name, full, f"{name}@example.com", PASSWORD, actor=Actor.cli())
    made["bundle"] = export_bundle(app)
    made["key"] = (Path(app.config["GATE_AUDIT_KEY_DIR"]) / "audit-ed25519.pub.pem").read_bytes()
    return made


def lines_of(files: dict[str, bytes]) -> list[bytes]:
    return files["records.jsonl"].splitlines(keepends=True)


def with_records(files: dict[str, bytes], lines: list[bytes]) -> bytes:
    return write_zip({**files, "records.jsonl": b"".join(lines)})


def first_problem(report: Report) -> str:
    assert not report.ok, "tampering went undetected"
    return str(report.problems[0])


def test_untouched_bundle_verifies_with_the_operators_key(history) -> None:  # type: ignore[no-untyped-def]
    report = verify_bundle(history["bundle"])
    assert report.ok, report.problems
    from gate.audit.verify import public_key_raw

    report = verify_bundle(history["bundle"], public_key_raw(history["key"]))
    assert report.ok, report.problems
    assert report.pushes_checked == 2 and report.checkpoints >= 2


def test_one_changed_byte_in_a_record_is_named(history) -> None:  # type: ignore[no-untyped-def]
    files = read_zip(history["bundle"])
    lines = lines_of(files)
    index = next(i for i, line in enumerate(lines) if b"Looks right" in line)
    lines[index] = lines[index].replace(b"Looks right", b"Looks light")
    report = verify_bundle(with_records(files, lines))
    seq = json.loads(lines[index])["seq"]
    assert first_problem(report).startswith(f"record seq {seq} ")
    assert "hash mismatch" in first_problem(report)


def test_a_deleted_record_in_the_middle_is_named(history) -> None:  # type: ignore[no-untyped-def]
    files = read_zip(history["bundle"])
    lines = lines_of(files)
    del lines[5]  # seq 6
    problem = first_problem(verify_bundle(with_records(files, lines)))
    assert problem.startswith("record seq 7 ") and "records 6..6 are missing" in problem


def test_two_reordered_records_are_named(history) -> None:  # type: ignore[no-untyped-def]
    files = read_zip(history["bundle"])
    lines = lines_of(files)
    lines[7], lines[8] = lines[8], lines[7]  # seq 8 and 9
    problem = first_problem(verify_bundle(with_records(files, lines)))
    assert problem.startswith("record seq 9 (line 8)") and "expected 8" in problem


def test_a_dropped_tail_after_a_checkpoint_is_detected(history) -> None:  # type: ignore[no-untyped-def]
    files = read_zip(history["bundle"])
    kept = lines_of(files)[: history["checkpoint"]]
    report = verify_bundle(with_records(files, kept))
    problems = [str(p) for p in report.problems]
    assert any("the tail was dropped" in p for p in problems), problems
    # Removing the later checkpoints too still leaves the signed manifest disagreeing.
    later = {
        name
        for name, data in files.items()
        if name.startswith("checkpoints/") and int(data.split(b"\n")[1]) > history["checkpoint"]
    }
    trimmed = {k: v for k, v in files.items() if k not in later}
    problems = [str(p) for p in verify_bundle(with_records(trimmed, kept)).problems]
    assert any(p.startswith("manifest.json: last_seq") for p in problems), problems


def _resign(files: dict[str, bytes], key: SigningKey) -> dict[str, bytes]:
    """What a forger with their own key would do: re-sign every checkpoint, every review
    attestation and the manifest."""
    import base64

    from gate.audit.export import manifest_note_text, sha256
    from gate.audit.verify import dsse_envelope, parse_note

    files = dict(files)
    files["public-key.pem"] = key.public_pem
    for name in [n for n in files if n.startswith("keys/")]:
        del files[name]
    files[f"keys/{key.fingerprint[:16]}.pub.pem"] = key.public_pem
    for name in [n for n in files if n.startswith("checkpoints/")]:
        note = parse_note(files[name].decode())
        files[name] = sign_note(note.text, "gate-audit", [key]).encode()
    for name in [n for n in files if n.startswith("attestations/")]:
        statement = json.loads(base64.b64decode(json.loads(files[name])["payload"]))
        files[name] = dsse_envelope(statement, key.private.sign, key.fingerprint)
    manifest = json.loads(files["manifest.json"])
    manifest["public_key_fingerprint"] = key.fingerprint
    manifest["files"] = {
        n: sha256(d)
        for n, d in files.items()
        if n not in ("manifest.json", "manifest.sig", "SHA256SUMS")
    }
    files["manifest.json"] = json.dumps(manifest).encode()
    files["manifest.sig"] = sign_note(
        manifest_note_text("gate-audit", files["manifest.json"]), "gate-audit", [key]
    ).encode()
    files.pop("SHA256SUMS")
    return files


def test_a_swapped_public_key_is_detected(history, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    files = read_zip(history["bundle"])
    forged = write_zip(_resign(files, new_key()))
    assert verify_bundle(forged).ok, "a consistent forgery passes without the operator's key..."
    real_key = tmp_path / "operator.pem"
    real_key.write_bytes(history["key"])
    report = verify_path(_write(tmp_path / "forged.zip", forged), real_key.read_bytes())
    problems = [str(p) for p in report.problems]
    assert any(p.startswith("public-key.pem: the bundle's signing key") for p in problems)
    assert any("not signed by any trusted key" in p for p in problems)
    # Swapping only the key file, without re-signing, fails even with the bundle's own key.
    swapped = write_zip({**files, "public-key.pem": new_key().public_pem})
    assert any("signature" in str(p) or "signed" in str(p) for p in verify_bundle(swapped).problems)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_a_forged_approval_by_the_author_is_named(app, history) -> None:  # type: ignore[no-untyped-def]
    """A compromised server writes an approval by dave for dave's own commit, and lets it in.
    Every hash and signature is genuine; the policy invariant still fails."""
    from gate.server.extensions import db

    request_id = history["daves"]
    key = history["daves_items"][0]["key"]
    with app.app_context():
        audit.append(
            "decision.approve",
            actor=Actor("dave", "session-password"),
            subject={
                "request": request_id,
                "reviewer": "dave",
                "reviewer_email": "dave@example.com",
                "comment": "mine, fine",
            },
        )
        allowed = audit.append(
            "push.allowed",
            actor=Actor("hook-token:1:test hook", "hook-token"),
            subject={"repository": "repo", "keys": [key], "requests": [request_id]},
        )
        seq = allowed.seq
        db.session.commit()
    report = verify_bundle(export_bundle(app))
    problem = first_problem(report)
    assert problem.startswith(f"record seq {seq} ")
    assert "needs 1 approval(s)" in problem and "dave at seq" in problem and "author" in problem


def test_recomputed_chain_after_an_edit_breaks_the_checkpoints(history) -> None:  # type: ignore[no-untyped-def]
    """Editing a record and re-hashing the whole chain leaves every record consistent, but the
    signed checkpoints name a different head."""
    files = read_zip(history["bundle"])
    records = [json.loads(line) for line in lines_of(files)]
    records[2]["subject"]["role"] = "admin"
    prev = records[0]["prev_hash"]
    for record in records:
        record["prev_hash"] = prev
        record["hash"] = prev = record_hash(record)
    lines = [canonical_json(r) + b"\n" for r in records]
    problems = [str(p) for p in verify_bundle(with_records(files, lines)).problems]
    assert problems and problems[0].startswith("checkpoints/")
    assert "changed after signing" in problems[0]


def test_an_approval_that_does_not_bind_the_held_content_is_a_problem(history) -> None:  # type: ignore[no-untyped-def]
    """Each approval names the content SHA-256 each commit was held with; one that names
    another (or none) is found even when the chain is recomputed (no checkpoints checked)."""
    from gate.audit.verify import verify_jsonl

    records = [json.loads(line) for line in lines_of(read_zip(history["bundle"]))]
    approvals = [r for r in records if r["action"] == "decision.approve"]
    held = {
        r["subject"]["request"]: r["subject"]["items"]
        for r in records
        if r["action"] == "request.held"
    }
    first = approvals[0]["subject"]
    assert first["held_content_sha256"] == {
        item["key"]: item["content_sha256"] for item in held[first["request"]]
    }

    def problems_after(edit) -> list[str]:  # type: ignore[no-untyped-def]
        copy = json.loads(json.dumps(records))
        edit(next(r for r in copy if r["seq"] == approvals[0]["seq"])["subject"])
        prev = copy[0]["prev_hash"]
        for record in copy:
            record["prev_hash"] = prev
            record["hash"] = prev = record_hash(record)
        return [
            str(p) for p in verify_jsonl(b"".join(canonical_json(r) + b"\n" for r in copy)).problems
        ]

    key = next(iter(first["held_content_sha256"]))
    for edit in (
        lambda s: s["held_content_sha256"].update({key: "0" * 64}),
        lambda s: s.pop("held_content_sha256"),
    ):
        (problem,) = problems_after(edit)
        assert f"record seq {approvals[0]['seq']}" in problem
        assert f"without binding the content SHA-256 it was held with for {key[:12]}" in problem
