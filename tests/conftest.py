"""Fixtures: a real database (SQLite, or PostgreSQL via GATE_TEST_DATABASE_URL), the app, a live
server on a real port, and bare repositories with the real hook installed. Helpers live in
tests/support."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gate.server.app import create_app
from gate.server.database import upgrade_database
from tests.support.server import (
    GatedRepo,
    LiveServer,
    add_reviewer,
    make_gated_repo,
    new_token,
    serving,
)


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for one test."""
    base = os.environ.get("GATE_TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'gate.db'}"
        return
    url = make_url(base)
    name = f"gate_test_{secrets.token_hex(6)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def app_overrides() -> dict[str, object]:
    """Extra app settings; a test module (or a parametrize) overrides this fixture."""
    return {}


@pytest.fixture
def app(database_url: str, tmp_path: Path, app_overrides: dict[str, object]):  # type: ignore[no-untyped-def]
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": secrets.token_hex(16),
            "GATE_AUDIT_KEY_DIR": str(tmp_path / "audit-keys"),
            **app_overrides,
        }
    )
    upgrade_database(app)
    yield app
    with app.app_context():
        from gate.server.extensions import db

        db.engine.dispose()


@pytest.fixture
def server(app) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    with serving(app) as url:
        yield LiveServer(url, app)


@pytest.fixture
def gated(server: LiveServer, tmp_path: Path) -> GatedRepo:
    """A bare repository with gate's hook, talking to the live server; reviewers alice, bob, carol."""
    for name in ("alice", "bob", "carol"):
        add_reviewer(server.app, name)
    return make_gated_repo(tmp_path / "git", server.url, new_token(server.app))
