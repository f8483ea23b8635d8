"""When the server's database is down or full, the pusher is told that cause in one line (from
the server's structured 503), the push is refused and the repository is left as it was."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, text

from gate import wire
from gate.server.app import create_app
from tests.support.gitrepo import CLAUDE_TRAILER, remote_ref
from tests.support.server import (
    GatedRepo,
    LiveServer,
    live_server,
    make_gated_repo,
    request_id_from,
)

pytestmark = pytest.mark.e2e

# Nothing listens on port 1: the connection is refused, as when PostgreSQL is stopped.
STOPPED_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:1/gate"


@pytest.fixture
def server_without_database(tmp_path: Path) -> Iterator[LiveServer]:
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": STOPPED_DATABASE,
            "SECRET_KEY": secrets.token_hex(16),
            "GATE_AUDIT_KEY_DIR": str(tmp_path / "audit-keys"),
        }
    )
    with live_server(app) as live:
        yield live


def agent_push(gated: GatedRepo, files: dict[str, str]):  # type: ignore[no-untyped-def]
    clone = gated.clone()
    clone.commit("seed", {"README.md": "x\n"})
    assert clone.push().ok  # a push that holds nothing never asks the server
    before = remote_ref(gated.bare)
    clone.commit("agent", files, trailers=[CLAUDE_TRAILER])
    return clone, before, clone.push()


def test_a_stopped_database_is_named_to_the_pusher(
    server_without_database: LiveServer, tmp_path: Path
) -> None:
    gated = make_gated_repo(tmp_path / "git", server_without_database.url, "gate_unchecked")
    _, before, result = agent_push(gated, {"train/a.py": "a = 1\n"})
    assert not result.ok and "Traceback" not in result.stderr
    assert "gate: push refused: gate server: database unavailable" in result.gate_lines[0]
    assert remote_ref(gated.bare) == before
    import requests

    answer = requests.post(
        f"{server_without_database.url}{wire.HOLDS_PATH}",
        json={},
        headers={"Authorization": "Bearer gate_x"},
        timeout=30,
    )
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == wire.DATABASE_UNAVAILABLE
    # The web app's pages, the login page first, say the same instead of a form.
    login = requests.get(f"{server_without_database.url}/login", timeout=30)
    assert login.status_code == 503 and "cannot reach the database" in login.text


def test_a_full_database_is_named_and_nothing_is_lost(gated: GatedRepo, server: LiveServer) -> None:
    from gate.server.extensions import db

    with server.app.app_context():  # type: ignore[attr-defined]
        engine = db.engine
    if engine.dialect.name != "sqlite":
        pytest.skip("a full disk is simulated with SQLite's max_page_count")

    def full(connection, _record) -> None:  # type: ignore[no-untyped-def]
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count = {pages}")

    engine.dispose()
    event.listen(engine, "connect", full)
    try:
        clone, before, result = agent_push(gated, {"train/big.py": "x = 1\n" * 40_000})
    finally:
        event.remove(engine, "connect", full)
        engine.dispose()
    assert not result.ok and "Traceback" not in result.stderr
    assert "gate: push refused: gate server: database unavailable" in result.gate_lines[0]
    assert remote_ref(gated.bare) == before
    with server.app.app_context():  # type: ignore[attr-defined]
        assert db.session.execute(text("SELECT count(*) FROM requests")).scalar() == 0
    again = clone.push()  # room again: the same commit is held as if nothing had happened
    assert not again.ok and request_id_from(again.gate_lines) == 1
