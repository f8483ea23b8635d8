"""Migration 0003: upgrade, downgrade and upgrade again; facets are backfilled for old requests."""

from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, select, text

from gate.resources import resource_dir
from tests.support.sql import insert_request

MIGRATIONS = str(resource_dir("migrations"))


def test_round_trip_and_backfill(app) -> None:  # type: ignore[no-untyped-def]
    from gate.server.extensions import db
    from gate.server.models import RequestFacet

    with app.app_context():
        downgrade(directory=MIGRATIONS, revision="0004")
        assert "request_facets" not in inspect(db.engine).get_table_names()
        with db.engine.begin() as conn:
            insert_request(conn, 1, required='{"model": 2}')
            conn.execute(
                text(
                    "INSERT INTO held_items (request_id, repository_id, key, kind, active, "
                    "author_name, author_email, committer_name, committer_email, summary, message, "
                    "meta, signals, guards, diffs) VALUES (1, 1, :z, 'commit', true, '', '', '', '', "
                    "'', '', '{}', :sig, '{}', '[]')"
                ),
                {"z": "0" * 40, "sig": '[{"agent": "Claude Code", "kind": "trailer"}]'},
            )
        upgrade(directory=MIGRATIONS)
        facets = db.session.execute(select(RequestFacet.kind, RequestFacet.value)).all()
        assert sorted(facets) == [("agent", "Claude Code"), ("guard", "model")]
        db.session.remove()
        downgrade(directory=MIGRATIONS, revision="0004")
        upgrade(directory=MIGRATIONS)
        assert "webhook_deliveries" in inspect(db.engine).get_table_names()
