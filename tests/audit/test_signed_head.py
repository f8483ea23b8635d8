"""Whoever owns the database cannot shorten or rewrite the audit log and have gate sign the
result: the signer remembers, beside its key, the head it signed last, and raises the audit
alert instead. An auditor holding earlier checkpoints sees the same forgeries in any export.

Histories are made by the real services on a real database; the forger works on the real
tables with the append-only triggers out of the way, as a database owner can.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from gate.audit.export import Period
from gate.audit.keys import PRIVATE_FILE, SIGNED_HEAD_FILE
from tests.support.auditlog import build_history
from tests.support.cli import run_gate
from tests.support.dbowner import as_database_owner, rewrite_record
from tests.support.server import LiveServer, add_reviewer


@pytest.fixture
def signed(app):  # type: ignore[no-untyped-def]
    """A history with a signed checkpoint over all of it; returns the checkpoint's size."""
    from gate.server.services.checkpoints import create_checkpoint

    build_history(app)
    with app.app_context():
        return create_checkpoint().size


def export(app, fmt: str = "bundle") -> bytes:  # type: ignore[no-untyped-def]
    from gate.server.services.exports import export_audit

    with app.app_context():
        return export_audit(fmt, Period()).data


def refusal(app, fmt: str = "bundle") -> str:  # type: ignore[no-untyped-def]
    from gate.server.services.checkpoints import AuditAlert

    with pytest.raises(AuditAlert) as caught:
        export(app, fmt)
    return str(caught.value)


def checkpoint_count(app) -> int:  # type: ignore[no-untyped-def]
    from gate.server.extensions import db
    from gate.server.models import AuditCheckpoint

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditCheckpoint)) or 0


def drop_tail(app, keep: int) -> None:  # type: ignore[no-untyped-def]
    as_database_owner(app, f"DELETE FROM audit_log WHERE seq > {keep}")


def test_a_truncated_log_is_not_signed_or_exported(app, signed: int) -> None:  # type: ignore[no-untyped-def]
    drop_tail(app, signed - 3)
    before = checkpoint_count(app)
    for fmt in ("bundle", "jsonl", "csv"):
        message = refusal(app, fmt)
        assert "the log was truncated" in message
        assert f"holds {signed - 3} records" in message and f"covered {signed}" in message
    assert checkpoint_count(app) == before, "nothing was signed over the shortened chain"


def test_a_rewritten_and_rehashed_log_is_not_signed(app, signed: int) -> None:  # type: ignore[no-untyped-def]
    def swap_approver(record: dict) -> None:  # type: ignore[type-arg]
        record["subject"]["reviewer"] = "mallory"

    from tests.support.audit import audit_records

    seq = next(r["seq"] for r in audit_records(app) if r["action"] == "decision.approve")
    rewrite_record(app, seq, swap_approver)
    as_database_owner(app, "DELETE FROM audit_checkpoints")
    message = refusal(app)
    assert "the log was rewritten" in message and f"at seq {signed}" in message
    assert checkpoint_count(app) == 0


def test_an_altered_record_without_rehashing_is_named(app, signed: int) -> None:  # type: ignore[no-untyped-def]
    as_database_owner(app, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3")
    assert "record seq 3 was altered" in refusal(app)


def test_deleted_checkpoints_are_noticed(app, signed: int) -> None:  # type: ignore[no-untyped-def]
    as_database_owner(app, "DELETE FROM audit_checkpoints")
    assert "checkpoints were deleted" in refusal(app)


def test_a_log_that_grew_is_signed_and_moves_the_head_on(app, signed: int) -> None:  # type: ignore[no-untyped-def]
    import json

    from gate.server.database import command
    from gate.server.services.accounts import add_user
    from gate.server.services.actor import Actor
    from gate.server.services.checkpoints import create_checkpoint

    with command(app):
        add_user(
            "erin",
            "Erin Late",
            "erin@example.com",
            "correct horse battery staple",
            actor=Actor.cli(),
        )
    with app.app_context():
        made = create_checkpoint()
    assert made.size == signed + 1
    head = json.loads((Path(app.config["GATE_AUDIT_KEY_DIR"]) / SIGNED_HEAD_FILE).read_text())
    assert (head["size"], head["head"]) == (made.size, made.head)
    # And cutting off just the new record is now a truncation too.
    drop_tail(app, signed)
    assert f"covered {signed + 1}" in refusal(app)


def test_admins_see_the_alert_on_every_page(app, server: LiveServer, signed: int) -> None:  # type: ignore[no-untyped-def]
    add_reviewer(server.app, "root", role="admin")
    drop_tail(app, signed - 1)
    admin = server.reviewer("root")
    page = admin.page("/audit")
    response = admin.post("/audit/export", {"format": "bundle"})
    assert response.status_code == 503 and "the log was truncated" in response.text
    for path in ("/audit", "/"):
        assert "AUDIT LOG ALERT" in admin.page(path).text
    assert "AUDIT LOG ALERT" not in page.text, "no alert before anything was checked"


def test_a_missing_key_stops_signing_instead_of_making_a_new_one(app, signed: int) -> None:  # type: ignore[no-untyped-def]
    from gate.server.services.checkpoints import AuditAlert, create_checkpoint
    from tests.support.audit import audit_records

    (Path(app.config["GATE_AUDIT_KEY_DIR"]) / PRIVATE_FILE).unlink()
    with app.app_context(), pytest.raises(AuditAlert, match=r"signing key .* is missing"):
        create_checkpoint()
    assert not (Path(app.config["GATE_AUDIT_KEY_DIR"]) / PRIVATE_FILE).exists()
    created = [r for r in audit_records(app) if r["action"] == "audit.key_created"]
    assert len(created) == 1
    result = run_gate(app, "audit", "checkpoint")
    assert result.exit_code != 0 and "is missing" in result.output
    assert "Traceback" not in result.output


def test_the_first_key_is_made_once_for_an_empty_log(app) -> None:  # type: ignore[no-untyped-def]
    from gate.server.services.checkpoints import create_checkpoint
    from tests.support.audit import audit_records

    with app.app_context():
        create_checkpoint()
        create_checkpoint()
    assert [r["action"] for r in audit_records(app)] == ["audit.key_created"]


# --- the auditor's side: exports against the checkpoints they hold --------------------------


def held_note(server: LiveServer, tmp_path: Path) -> Path:
    """The newest checkpoint from the public feed, kept in a file as an auditor would."""
    import requests

    feed = requests.get(f"{server.url}/audit/checkpoints", timeout=30).json()
    newest = feed["checkpoints"][0]
    note = requests.get(server.url + newest["note_url"], timeout=30)
    assert note.headers["Content-Type"].startswith("text/plain") and note.text == newest["note"]
    path = tmp_path / f"checkpoint-{newest['id']}.note"
    path.write_text(note.text)
    return path


def forget_signed_head(app) -> None:  # type: ignore[no-untyped-def]
    """The signer of old, which trusted whatever the database held: it remembered nothing."""
    (Path(app.config["GATE_AUDIT_KEY_DIR"]) / SIGNED_HEAD_FILE).unlink()


def verify(app, tmp_path: Path, bundle: bytes, *held: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "export.zip"
    path.write_bytes(bundle)
    key = Path(app.config["GATE_AUDIT_KEY_DIR"]) / "audit-ed25519.pub.pem"
    args = ["audit", "verify", str(path), "--public-key", str(key)]
    for note in held:
        args += ["--checkpoint", str(note)]
    return run_gate(app, *args)


def test_the_feed_pages_newest_first_without_login(app, server: LiveServer, signed: int) -> None:  # type: ignore[no-untyped-def]
    import requests

    from gate.server.services.checkpoints import create_checkpoint

    with app.app_context():
        for _ in range(3):
            create_checkpoint()
    from gate.server.web import audit as audit_web

    original, audit_web.FEED_PAGE = audit_web.FEED_PAGE, 2
    try:
        first = requests.get(f"{server.url}/audit/checkpoints", timeout=30).json()
        second = requests.get(server.url + first["next"], timeout=30).json()
    finally:
        audit_web.FEED_PAGE = original
    ids = [c["id"] for c in first["checkpoints"] + second["checkpoints"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == 4
    assert requests.get(f"{server.url}/audit/checkpoints?before=x", timeout=30).status_code == 400
    assert requests.get(f"{server.url}/audit/checkpoints/999.note", timeout=30).status_code == 404


def test_held_checkpoints_name_truncation(app, server: LiveServer, signed: int, tmp_path) -> None:  # type: ignore[no-untyped-def]
    note = held_note(server, tmp_path)
    assert verify(app, tmp_path, export(app), note).exit_code == 0
    drop_tail(app, signed - 2)
    as_database_owner(app, "DELETE FROM audit_checkpoints")  # the stored ones would give it away
    forget_signed_head(app)
    forged = export(app)
    assert verify(app, tmp_path, forged).exit_code == 0, "alone, the forgery verifies"
    result = verify(app, tmp_path, forged, note)
    assert result.exit_code == 1
    assert (
        f"{note}: TRUNCATED" in result.stdout and f"records {signed - 1}..{signed}" in result.stdout
    )


def test_held_checkpoints_name_a_rewrite(app, server: LiveServer, signed: int, tmp_path) -> None:  # type: ignore[no-untyped-def]
    note = held_note(server, tmp_path)

    def retitle(record: dict) -> None:  # type: ignore[type-arg]
        record["subject"]["name"] = "Someone Else"

    rewrite_record(app, 1, retitle)
    as_database_owner(app, "DELETE FROM audit_checkpoints")
    forget_signed_head(app)
    forged = export(app)
    assert verify(app, tmp_path, forged).exit_code == 0, "alone, the forgery verifies"
    result = verify(app, tmp_path, forged, note)
    assert result.exit_code == 1 and f"{note}: REWRITTEN" in result.stdout


def test_held_checkpoints_name_deleted_checkpoints(
    app, server: LiveServer, signed: int, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    note = held_note(server, tmp_path)
    as_database_owner(app, "DELETE FROM audit_checkpoints")
    forget_signed_head(app)
    forged = export(app)
    assert verify(app, tmp_path, forged).exit_code == 0
    result = verify(app, tmp_path, forged, note)
    assert result.exit_code == 1 and f"{note}: DELETED" in result.stdout


def test_an_unreadable_held_checkpoint_is_a_clear_error(app, signed: int, tmp_path) -> None:  # type: ignore[no-untyped-def]
    junk = tmp_path / "junk.note"
    junk.write_text("not a note")
    result = verify(app, tmp_path, export(app), junk)
    assert result.exit_code == 2 and "is not a signed checkpoint note" in result.stderr
    assert "Traceback" not in result.output


def test_the_alert_reaches_every_worker_and_clears_once_the_log_checks_again(
    app, database_url: str, tmp_path: Path, signed: int
) -> None:  # type: ignore[no-untyped-def]
    """Two app instances on one database and key directory, as two gunicorn workers are: the
    alert one raises is shown by the other too, and goes when a later check passes."""
    import secrets

    from gate.server.app import create_app
    from gate.server.services.checkpoints import AuditAlert, create_checkpoint, current_alert

    other = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": secrets.token_hex(16),
            "GATE_AUDIT_KEY_DIR": app.config["GATE_AUDIT_KEY_DIR"],
        }
    )
    key = Path(app.config["GATE_AUDIT_KEY_DIR"]) / PRIVATE_FILE
    saved = key.read_bytes()
    key.unlink()
    with app.app_context(), pytest.raises(AuditAlert):
        create_checkpoint()
    with other.app_context():
        shown = current_alert()
    assert shown is not None and "signing key" in shown and "is missing" in shown
    key.write_bytes(saved)
    key.chmod(0o600)
    with other.app_context():
        create_checkpoint()
        assert current_alert() is None
    with app.app_context():
        assert current_alert() is None
    with other.app_context():
        from gate.server.extensions import db

        db.engine.dispose()
