"""Migration 0010 (remembered-commit counts): heartbeat rows from before it count no reported
commits and no host count (nothing to compare, so no alert); a downgrade drops the counts and
keeps the rows; it upgrades again."""

from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from gate.resources import resource_dir

MIGRATIONS = str(resource_dir("migrations"))


def test_heartbeat_rows_keep_their_data_across_0010(app) -> None:  # type: ignore[no-untyped-def]
    from gate.server.extensions import db
    from gate.server.models import RepositoryHeartbeat
    from gate.server.services.heartbeats import memory_lost

    with app.app_context():
        downgrade(directory=MIGRATIONS, revision="0009")
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO repositories (id, name, created_at) VALUES (1, 'r', '2026-01-01')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO repository_heartbeats (repository_id, source, layout, "
                    "unknown_pusher_pushes, problems) VALUES (1, 'post-receive', 'gitea', 3, "
                    "'[]')"
                )
            )
        upgrade(directory=MIGRATIONS)
        row = db.session.get(RepositoryHeartbeat, 1)
        assert row is not None
        assert (row.layout, row.unknown_pusher_pushes) == ("gitea", 3)
        assert (row.remembered_reported, row.remembered_on_host) == (0, None)
        assert not memory_lost(row)
        row.remembered_reported, row.remembered_on_host = 5, 1
        db.session.commit()
        db.session.remove()
        downgrade(directory=MIGRATIONS, revision="0009")
        with db.engine.connect() as conn:
            kept = conn.execute(
                text("SELECT layout, unknown_pusher_pushes FROM repository_heartbeats")
            ).all()
        assert [tuple(r) for r in kept] == [("gitea", 3)]
        upgrade(directory=MIGRATIONS)
        again = db.session.get(RepositoryHeartbeat, 1)
        assert again is not None and (again.remembered_reported, again.remembered_on_host) == (
            0,
            None,
        )
        db.session.remove()
