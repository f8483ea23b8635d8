"""Migration 0015: held items get a patch id column (old items keep NULL), and the delivery
outbox can hold e-mails (webhook_id NULL, email_to); rows already there survive both ways."""

from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, select, text

from gate.resources import resource_dir
from tests.support.sql import insert_request

MIGRATIONS = str(resource_dir("migrations"))


def test_upgrade_keeps_rows_and_downgrade_drops_only_emails(app) -> None:  # type: ignore[no-untyped-def]
    from gate.server.extensions import db
    from gate.server.models import HeldItem, WebhookDelivery

    with app.app_context():
        downgrade(directory=MIGRATIONS, revision="0013")
        assert "patch_id" not in {c["name"] for c in inspect(db.engine).get_columns("held_items")}
        with db.engine.begin() as conn:
            insert_request(conn, 7)
            conn.execute(
                text(
                    "INSERT INTO held_items (request_id, repository_id, key, kind, active, "
                    "author_name, author_email, committer_name, committer_email, summary, "
                    "message, meta, signals, guards, diffs, diff_sha256, content_sha256) VALUES "
                    "(7, 1, :k, 'commit', true, '', '', '', '', 'old', '', '{}', '[]', '{}', "
                    "'[]', :d, :d)"
                ),
                {"k": "a" * 40, "d": "d" * 64},
            )
            conn.execute(
                text(
                    "INSERT INTO webhooks (id, url, style, secret, events, active, created_at) "
                    "VALUES (3, 'https://x.example/h', 'json', 's', '[]', true, '2026-01-01')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO webhook_deliveries (webhook_id, event, body, state, attempts, "
                    "created_at, next_attempt_at, idempotency_key) VALUES (3, 'request.held', "
                    "'{\"event\": \"request.held\"}', 'failed', 6, '2026-01-01', '2026-01-01', 'k1')"
                )
            )
        upgrade(directory=MIGRATIONS)
        item = db.session.scalar(select(HeldItem).where(HeldItem.request_id == 7))
        assert (item.summary, item.content_sha256, item.patch_id) == ("old", "d" * 64, None)
        old = db.session.scalar(select(WebhookDelivery))
        assert (old.webhook_id, old.email_to, old.state, old.idempotency_key) == (
            3,
            None,
            "failed",
            "k1",
        )
        db.session.add(
            WebhookDelivery(
                webhook_id=None, email_to="a@example.com", event="request.held", body={}
            )
        )
        db.session.commit()
        db.session.remove()
        downgrade(directory=MIGRATIONS, revision="0013")
        with db.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT webhook_id, idempotency_key FROM webhook_deliveries")
            ).all()
        assert [tuple(r) for r in rows] == [(3, "k1")]
        upgrade(directory=MIGRATIONS)
