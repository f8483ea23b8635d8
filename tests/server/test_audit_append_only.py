"""The database itself refuses to change or remove audit records (migration 0002), and
concurrent appends keep the sequence gap-free. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from gate.audit.verify import GENESIS, record_hash
from gate.server.extensions import db
from gate.server.models import AuditRecord
from gate.server.services import audit
from gate.server.services.actor import Actor


@pytest.fixture
def logged(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        for n in range(3):
            audit.append("test.event", actor=Actor("system", "system"), subject={"n": n})
        db.session.commit()
    return app


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2",
        "DELETE FROM audit_log WHERE seq = 2",
        "DELETE FROM audit_log",
    ],
)
def test_update_and_delete_are_refused(logged, statement: str) -> None:  # type: ignore[no-untyped-def]
    with logged.app_context():
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text(statement))
        db.session.rollback()
        assert [r.actor for r in db.session.scalars(select(AuditRecord))] == ["system"] * 3


def test_truncate_is_refused_on_postgresql(logged) -> None:  # type: ignore[no-untyped-def]
    with logged.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite has no TRUNCATE")
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text("TRUNCATE audit_log"))
        db.session.rollback()


def test_checkpoints_are_append_only_too(logged) -> None:  # type: ignore[no-untyped-def]
    from gate.server.services.checkpoints import create_checkpoint

    with logged.app_context():
        create_checkpoint()
        for statement in ("UPDATE audit_checkpoints SET size = 0", "DELETE FROM audit_checkpoints"):
            with pytest.raises(DBAPIError, match="append-only"):
                db.session.execute(text(statement))
            db.session.rollback()


def test_concurrent_appends_stay_gap_free_and_chained(app) -> None:  # type: ignore[no-untyped-def]
    writers, each = 6, 8
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def write(n: int) -> None:
        try:
            with app.app_context():
                start.wait()
                for i in range(each):
                    audit.append(
                        "test.concurrent", actor=Actor(f"w{n}", "system"), subject={"i": i}
                    )
                    db.session.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    with app.app_context():
        records = db.session.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all()
    assert [r.seq for r in records] == list(range(1, writers * each + 1))
    prev = GENESIS
    for record in records:
        assert record.prev_hash == prev
        assert record.hash == record_hash(audit.record_body(record))
        prev = record.hash


def test_migrations_downgrade_and_upgrade_again(app) -> None:  # type: ignore[no-untyped-def]
    from flask_migrate import downgrade, upgrade

    from gate.resources import resource_dir

    with app.app_context():
        directory = str(resource_dir("migrations"))
        downgrade(directory=directory, revision="0001")
        db.session.execute(text("DELETE FROM audit_log"))  # no trigger after the downgrade
        db.session.commit()
        upgrade(directory=directory)
        audit.append("test.event", actor=Actor("system", "system"), subject={})
        db.session.commit()
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text("DELETE FROM audit_log"))
        db.session.rollback()
