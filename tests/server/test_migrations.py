"""The migrations have one head and upgrade, downgrade and upgrade again on an empty database."""

from __future__ import annotations

from alembic.config import Config
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from gate.resources import resource_dir
from gate.server.extensions import db


def test_exactly_one_head() -> None:
    config = Config()
    config.set_main_option("script_location", str(resource_dir("migrations")))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, f"migrations have several heads: {heads}"


def test_upgrade_downgrade_upgrade(app) -> None:  # type: ignore[no-untyped-def]
    directory = str(resource_dir("migrations"))
    with app.app_context():
        tables = set(inspect(db.engine).get_table_names())
        assert {"users", "requests", "held_items", "decisions", "audit_log"} <= tables
        downgrade(directory=directory, revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade(directory=directory)
        assert set(inspect(db.engine).get_table_names()) == tables


def test_models_match_migrations(app) -> None:  # type: ignore[no-untyped-def]
    """Autogenerate finds nothing to add: the models and the migrations describe one schema."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with app.app_context(), db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []
