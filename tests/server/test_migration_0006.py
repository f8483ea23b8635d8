"""Migration 0006: deliveries queued before it get a stable idempotency key and lose the
receiver's response body; users start at session version 0; it downgrades and upgrades again."""

from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from gate.resources import resource_dir

MIGRATIONS = str(resource_dir("migrations"))


def test_backfill_and_round_trip(app) -> None:  # type: ignore[no-untyped-def]
    from gate.server.extensions import db

    with app.app_context():
        downgrade(directory=MIGRATIONS, revision="0005")
        columns = {c["name"] for c in inspect(db.engine).get_columns("webhook_deliveries")}
        assert "idempotency_key" not in columns
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (id, username, name, email, role, password_hash, active, "
                    "created_at) VALUES (1, 'a', 'A', 'a@example.com', 'admin', 'x', true, "
                    "'2026-01-01')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO webhooks (id, url, style, secret, events, active, created_at) "
                    "VALUES (1, 'https://example.com/', 'json', 's', '[]', true, '2026-01-01')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO webhook_deliveries (id, webhook_id, event, body, state, "
                    "attempts, last_status, last_error, created_at, next_attempt_at) VALUES "
                    "(7, 1, 'request.held', '{}', 'failed', 6, 500, "
                    "'HTTP 500: internal token abc', '2026-01-01', '2026-01-01')"
                )
            )
        upgrade(directory=MIGRATIONS)
        with db.engine.connect() as conn:
            key, error = conn.execute(
                text("SELECT idempotency_key, last_error FROM webhook_deliveries")
            ).one()
            version = conn.execute(text("SELECT session_version FROM users")).scalar_one()
        assert (key, error, version) == ("delivery-7", "HTTP 500", 0)
        db.session.remove()
        downgrade(directory=MIGRATIONS, revision="0005")
        upgrade(directory=MIGRATIONS)
        columns = {c["name"] for c in inspect(db.engine).get_columns("webhook_deliveries")}
        assert "idempotency_key" in columns
