"""Migration 0008 (token scopes): tokens made before it keep working for every repository but are
flagged unscoped, with their name as their git host; requests get their token's host; a
downgrade revokes agents' read tokens (without a kind they would be hook tokens); it upgrades
again."""

from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from gate.resources import resource_dir

MIGRATIONS = str(resource_dir("migrations"))
Z = "0" * 40


def test_old_tokens_become_unscoped_and_requests_get_their_host(app) -> None:  # type: ignore[no-untyped-def]
    from gate.server.extensions import db
    from gate.server.models import HookToken
    from gate.server.services import scopes

    with app.app_context():
        downgrade(directory=MIGRATIONS, revision="0007")
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO hook_tokens (id, name, token_hash, prefix, created_at) VALUES "
                    "(1, 'git.example.com', :h, 'gate_abc', '2026-01-01')"
                ),
                {"h": "1" * 64},
            )
            conn.execute(
                text(
                    "INSERT INTO repositories (id, name, created_at) VALUES (1, 'r', '2026-01-01')"
                )
            )
            for request_id, token_id in ((1, 1), (2, None)):
                conn.execute(
                    text(
                        "INSERT INTO requests (id, repository_id, ref, pusher, old, new, state, "
                        "required, policy_sha256, token_id, created_at) VALUES (:id, 1, "
                        "'refs/heads/main', 'agent-x', :z, :z, 'pending', '{}', :z, :t, "
                        "'2026-01-01')"
                    ),
                    {"id": request_id, "z": Z, "t": token_id},
                )
        upgrade(directory=MIGRATIONS)
        token = db.session.get(HookToken, 1)
        assert token is not None
        assert (token.kind, token.host, token.unscoped, token.repositories) == (
            "hook",
            "git.example.com",
            True,
            [],
        )
        assert scopes.covers(token, "any/repository/at/all")
        assert "UNSCOPED" in scopes.describe(token)
        with db.engine.connect() as conn:
            hosts = dict(conn.execute(text("SELECT id, host FROM requests ORDER BY id")).all())
        assert hosts == {1: "git.example.com", 2: None}
        db.session.remove()


def test_downgrade_revokes_agent_read_tokens(app) -> None:  # type: ignore[no-untyped-def]
    from gate.server.database import command
    from gate.server.extensions import db
    from gate.server.services.accounts import create_agent_token, create_hook_token
    from gate.server.services.actor import Actor
    from tests.support.server import add_agent

    add_agent(app, "agent-x")
    with command(app):
        create_agent_token("agent-x", actor=Actor.cli())
        create_hook_token("h", ["r"], actor=Actor.cli())
    with app.app_context():
        db.session.remove()
        downgrade(directory=MIGRATIONS, revision="0007")
        with db.engine.connect() as conn:
            revoked = conn.execute(
                text("SELECT name, revoked_at IS NOT NULL FROM hook_tokens ORDER BY id")
            ).all()
        assert [tuple(row) for row in revoked] == [("agent agent-x", True), ("h", False)]
        upgrade(directory=MIGRATIONS)
