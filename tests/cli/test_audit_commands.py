"""gate audit checkpoint / export / verify / rotate-key / prune-diffs, through the command
functions and the Click entry point, on a real database."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from gate.audit.verify import fingerprint as key_fingerprint
from gate.audit.verify import parse_checkpoint, public_key_raw, verify_path
from gate.cli import audit as commands
from gate.cli.main import cli
from gate.errors import GateError
from tests.support.auditlog import build_history
from tests.support.cli import run_gate
from tests.support.server import add_reviewer


@pytest.fixture
def history(app):  # type: ignore[no-untyped-def]
    return build_history(app)


def key_file(app) -> Path:  # type: ignore[no-untyped-def]
    return Path(app.config["GATE_AUDIT_KEY_DIR"]) / "audit-ed25519.pub.pem"


def test_checkpoints_are_signed_even_when_nothing_happened(app, history) -> None:  # type: ignore[no-untyped-def]
    first = commands.checkpoint(app)
    second = commands.checkpoint(app)
    note_a = "\n".join(first[1:]) + "\n"
    note_b = "\n".join(second[1:]) + "\n"
    a, b = parse_checkpoint("a", note_a), parse_checkpoint("b", note_b)
    assert a.size == b.size and a.head == b.head and a.time < b.time
    private = Path(app.config["GATE_AUDIT_KEY_DIR"]) / "audit-ed25519.key"
    assert private.stat().st_mode & 0o777 == 0o600


def test_exports_in_every_format(app, history, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for fmt in ("jsonl", "csv", "bundle"):
        out = tmp_path / f"audit.{fmt}"
        (line,) = commands.export(app, fmt, None, None, out)
        assert "records (seq 1.." in line
    rows = (tmp_path / "audit.csv").read_text().splitlines()
    assert rows[0].endswith(",prev_hash,hash,schema") and len(rows) > 10
    assert verify_path(tmp_path / "audit.jsonl").ok
    assert verify_path(tmp_path / "audit.bundle", key_file(app).read_bytes()).ok


def test_a_filtered_export_starts_mid_chain_and_says_so(app, history, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from gate.server.extensions import db
    from gate.server.models import AuditRecord

    with app.app_context():
        middle = db.session.scalar(select(AuditRecord).where(AuditRecord.seq == 10))
        since = middle.created_at
    out = tmp_path / "part.zip"
    commands.export(app, "bundle", since, None, out)
    report = verify_path(out, key_file(app).read_bytes())
    assert report.ok, report.problems
    assert report.first_seq == 10 and "starts at seq 10" in " ".join(report.notes)


def test_key_rotation_is_audited_and_trust_follows_it(app, history, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    commands.checkpoint(app)
    old_key = key_file(app).read_bytes()
    lines = commands.rotate_key(app)
    assert lines[0].startswith("rotated the audit key")
    new_key = key_file(app).read_bytes()
    assert new_key != old_key
    out = tmp_path / "rotated.zip"
    commands.export(app, "bundle", None, None, out)
    with zipfile.ZipFile(out) as archive:
        records = [json.loads(x) for x in archive.read("records.jsonl").splitlines()]
    assert records[-1]["action"] == "audit.key_rotated"
    # An auditor holding the old key, or the new one, can verify the whole bundle.
    for trusted in (old_key, new_key):
        report = verify_path(out, trusted)
        assert report.ok, report.problems


def test_prune_diffs_keeps_hashes_and_is_audited(app, history) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from gate.server.extensions import db
    from gate.server.models import ApprovalRequest, AuditRecord, HeldItem

    with pytest.raises(Exception, match="six months"):
        commands.prune_diffs(app, 30)
    with app.app_context():
        request = db.session.get(ApprovalRequest, history["approved"][0])
        request.decided_at = datetime.now(UTC) - timedelta(days=400)
        db.session.commit()
    assert commands.prune_diffs(app, None) == [
        "pruned the diff bodies of 1 held items decided over 365 days ago"
    ]
    with app.app_context():
        items = db.session.scalars(select(HeldItem).order_by(HeldItem.id)).all()
        assert items[0].diffs == [] and items[0].diff_sha256
        assert all(item.diffs for item in items[1:])
        record = db.session.scalars(
            select(AuditRecord).where(AuditRecord.action == "diffs.pruned")
        ).one()
        assert record.subject["items"][0]["diff_sha256"] == items[0].diff_sha256


def test_bad_input_gets_a_clear_error_not_a_traceback(app, history, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    result = runner.invoke(cli, ["audit", "verify", str(corrupt)])
    assert result.exit_code == 2 and "not a readable zip file" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)

    good = tmp_path / "good.zip"
    commands.export(app, "bundle", None, None, good)
    wrong_key = tmp_path / "wrong.pem"
    wrong_key.write_text("-----BEGIN PUBLIC KEY-----\nnonsense\n-----END PUBLIC KEY-----\n")
    result = runner.invoke(cli, ["audit", "verify", str(good), "--public-key", str(wrong_key)])
    assert result.exit_code == 2 and "not a PEM public key" in result.output

    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    result = runner.invoke(cli, ["audit", "verify", str(text)])
    assert result.exit_code == 2 and "not a gate audit export" in result.output

    for since, until in (("2026-13-01", None), ("yesterday", None), ("2026-02-02", "2026-01-01")):
        with pytest.raises(GateError):
            commands.export(app, "csv", since, until, tmp_path / "x.csv")
    with pytest.raises(GateError, match="is a directory"):
        commands.export(app, "csv", None, None, tmp_path)


def test_verify_needs_no_server_configuration(app, history, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "b.zip"
    commands.export(app, "bundle", None, None, out)
    for name in ("GATE_SECRET_KEY", "GATE_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(
        cli, ["audit", "verify", str(out), "--public-key", str(key_file(app))]
    )
    assert result.exit_code == 0 and "OK: verified" in result.output
    assert public_key_raw(key_file(app).read_bytes())


def test_the_server_signs_periodically(server, history) -> None:  # type: ignore[no-untyped-def]
    import requests
    from sqlalchemy import func, select

    from gate.server.extensions import db
    from gate.server.models import AuditCheckpoint

    requests.get(f"{server.url}/login", timeout=10)
    with server.app.app_context():
        count = db.session.scalar(select(func.count()).select_from(AuditCheckpoint))
    assert count == 1, "the first request after start-up signs a checkpoint"


def _tampered(bundle: Path, out: Path) -> Path:
    """A copy of the bundle with one record's reviewer changed after the fact."""
    with zipfile.ZipFile(bundle) as original:
        files = {name: original.read(name) for name in original.namelist()}
    records = files["records.jsonl"].decode().splitlines()
    index = next(i for i, line in enumerate(records) if '"alice"' in line)
    records[index] = records[index].replace('"alice"', '"mallory"')
    files["records.jsonl"] = ("\n".join(records) + "\n").encode()
    with zipfile.ZipFile(out, "w") as copy:
        for name, data in files.items():
            copy.writestr(name, data)
    return out


def test_report_from_an_export_verifies_it_first(app, history, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bundle = tmp_path / "audit.zip"
    commands.export(app, "bundle", None, None, bundle)
    good = run_gate(
        app,
        "report",
        "--export",
        str(bundle),
        "--public-key",
        str(key_file(app)),
        "--format",
        "json",
    )
    assert good.exit_code == 0, good.stderr
    assert json.loads(good.stdout)["records"]["count"] > 10

    bad = run_gate(app, "report", "--export", str(_tampered(bundle, tmp_path / "bad.zip")))
    assert bad.exit_code == 1 and bad.stdout == "" and "Traceback" not in bad.stderr
    assert "bad.zip does not verify, so no report was made from it" in bad.stderr
    assert "the record was altered" in bad.stderr

    jsonl = tmp_path / "audit.jsonl"
    commands.export(app, "jsonl", None, None, jsonl)
    lines = jsonl.read_text().splitlines()
    jsonl.write_text("\n".join(lines[:3] + lines[4:]) + "\n")  # one record dropped mid-chain
    gap = run_gate(app, "report", "--export", str(jsonl))
    assert gap.exit_code == 1 and "does not verify" in gap.stderr

    stray = run_gate(app, "report", "--public-key", str(key_file(app)))
    assert stray.exit_code == 1 and "--public-key verifies an --export" in stray.stderr


def test_public_key_from_the_cli_and_the_web_is_the_one_that_verifies(
    server, history, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    import requests

    app = server.app
    commands.checkpoint(app)  # the first checkpoint makes the key
    printed = run_gate(app, "audit", "public-key")
    assert printed.exit_code == 0, printed.stderr
    assert printed.stdout.encode() == key_file(app).read_bytes()
    fingerprint = key_fingerprint(public_key_raw(printed.stdout.encode()))
    assert printed.stderr == f"gate: fingerprint {fingerprint}\n"

    served = requests.get(f"{server.url}/audit/public-key.pem", timeout=10)  # no login: public
    assert served.status_code == 200 and served.content == printed.stdout.encode()
    assert served.headers["X-Gate-Key-Fingerprint"] == fingerprint
    add_reviewer(app, "audrey", role="auditor")
    page = server.reviewer("audrey").page("/audit")
    assert fingerprint in page.text and 'href="/audit/public-key.pem"' in page.text

    bundle = tmp_path / "audit.zip"
    commands.export(app, "bundle", None, None, bundle)
    assert verify_path(bundle, served.content).ok


def test_public_key_before_there_is_one(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run_gate(app, "audit", "public-key")
    assert result.exit_code == 1 and result.stdout == ""
    assert "there is no audit key in" in result.stderr and "gate audit checkpoint" in result.stderr
