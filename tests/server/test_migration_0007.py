"""Migration 0007: held items get a content SHA-256; items held before it keep NULL, and an
approval of one does not count for a push of that commit now (it is held again, verified)."""

from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, select, text

from gate.resources import resource_dir
from tests.support.auditlog import commit_item, push
from tests.support.sql import insert_request

MIGRATIONS = str(resource_dir("migrations"))


def test_old_items_keep_null_and_their_approval_is_not_taken(app) -> None:  # type: ignore[no-untyped-def]
    from gate.server.database import command
    from gate.server.extensions import db
    from gate.server.models import ApprovalRequest, HeldItem
    from gate.server.services.accounts import create_hook_token
    from gate.server.services.actor import Actor

    item = commit_item(1, "train")
    with app.app_context():
        downgrade(directory=MIGRATIONS, revision="0006")
        columns = {c["name"] for c in inspect(db.engine).get_columns("held_items")}
        assert "content_sha256" not in columns
        with db.engine.begin() as conn:
            insert_request(
                conn,
                1000,
                state="approved",
                required='{"train": 1}',
                new=item["key"],
                repository="repo",
            )
            conn.execute(
                text(
                    "INSERT INTO held_items (request_id, repository_id, key, kind, active, "
                    "author_name, author_email, committer_name, committer_email, summary, "
                    "message, meta, signals, guards, diffs, diff_sha256) VALUES (1000, 1, :k, "
                    "'commit', true, '', '', '', '', 'old', '', '{}', '[]', '{}', '[]', :d)"
                ),
                {"k": item["key"], "d": "d" * 64},
            )
        upgrade(directory=MIGRATIONS)
        old = db.session.scalar(select(HeldItem).where(HeldItem.request_id == 1000))
        assert (old.diff_sha256, old.content_sha256, old.summary) == ("d" * 64, None, "old")
        db.session.remove()
    with command(app):
        create_hook_token("hook", [], all_repositories=True, actor=Actor.cli())
    answer = push(app, [item])
    (state,) = answer["items"]
    assert state["state"] == "pending" and state["request_id"] != 1000
    assert state["content_sha256"] is not None
    with app.app_context():
        assert db.session.get(ApprovalRequest, 1000).state == "superseded"  # type: ignore[union-attr]
        db.session.remove()
        downgrade(directory=MIGRATIONS, revision="0006")
        upgrade(directory=MIGRATIONS)
        columns = {c["name"] for c in inspect(db.engine).get_columns("held_items")}
        assert "content_sha256" in columns
