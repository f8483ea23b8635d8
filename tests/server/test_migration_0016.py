"""Migration 0016: the tables for viewed ticks, line comments and held blobs come and go; rows
already there (requests, decisions) survive both ways, and old requests simply have no ticks,
comments or blobs."""

from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, select, text

from gate.resources import resource_dir
from tests.support.sql import insert_request

MIGRATIONS = str(resource_dir("migrations"))
TABLES = {"viewed_files", "line_comments", "held_blobs"}


def test_upgrade_and_downgrade_keep_requests(app) -> None:  # type: ignore[no-untyped-def]
    from gate.server.extensions import db
    from gate.server.models import ApprovalRequest, HeldBlob

    with app.app_context():
        downgrade(directory=MIGRATIONS, revision="0015")
        assert not TABLES & set(inspect(db.engine).get_table_names())
        with db.engine.begin() as conn:
            insert_request(conn, 7)
        upgrade(directory=MIGRATIONS)
        assert set(inspect(db.engine).get_table_names()) >= TABLES
        assert db.session.get(ApprovalRequest, 7) is not None
        assert db.session.scalars(select(HeldBlob)).all() == []
        db.session.rollback()
        downgrade(directory=MIGRATIONS, revision="0015")
        assert not TABLES & set(inspect(db.engine).get_table_names())
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT id FROM requests")).scalars().all() == [7]
        upgrade(directory=MIGRATIONS)
