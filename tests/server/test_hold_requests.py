"""One hold request's cost and freshness: a bounded number of SQL statements per request, and
nothing cached that must take effect at once (a revoked token, a started or ended pause)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from gate.server.services.actor import Actor
from tests.support.auditlog import approve, commit_item
from tests.support.server import PASSWORD, add_reviewer, new_token
from tests.support.sql import statements

# What a request costs now (bench/hold_request.py prints these): a new push that supersedes the
# pusher's previous request, a retry of the same push, and a re-post of an approved push.
# A new push reads the active keys again once it holds the audit lock (so overlapping pushes
# sent at once never collide on the unique index): one statement more than before (17); and
# every answer hands the git host the latest signed checkpoint: one read more on each (19, 6, 10).
# A new request keeps the verified blobs its page expands context from: one INSERT (20).
MAX_NEW_PUSH = 20
MAX_RETRY = 6
MAX_APPROVED = 10
ROOT = Actor("root", "session-password")


def body(items: list[dict[str, Any]], policy: str = "ab" * 32) -> bytes:
    return json.dumps(
        {
            "repository": "repo",
            "ref": "refs/heads/main",
            "old": "0" * 40,
            "new": items[-1]["key"],
            "pusher": "agent-bot",
            "policy": {"sha256": policy, "approvals": {"train": 1}},
            "items": items,
        }
    ).encode()


class Hook:
    def __init__(self, app, token: str) -> None:  # type: ignore[no-untyped-def]
        self.client = app.test_client()
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(self, data: bytes, status: int = 200) -> dict[str, Any]:
        response = self.client.post("/api/v1/holds", data=data, headers=self.headers)
        assert response.status_code == status, response.get_data(as_text=True)
        return response.get_json()  # type: ignore[no-any-return]


def audit_actions(app) -> list[str]:  # type: ignore[no-untyped-def]
    from gate.server.extensions import db
    from gate.server.models import AuditRecord

    with app.app_context():
        return list(db.session.scalars(select(AuditRecord.action).order_by(AuditRecord.seq)))


def audit_subjects(app, action: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    from gate.server.extensions import db
    from gate.server.models import AuditRecord

    with app.app_context():
        return list(
            db.session.scalars(
                select(AuditRecord.subject)
                .where(AuditRecord.action == action)
                .order_by(AuditRecord.seq)
            )
        )


def test_statements_per_hold_request_are_bounded(app) -> None:  # type: ignore[no-untyped-def]
    add_reviewer(app, "alice")
    hook = Hook(app, new_token(app))
    # Once-per-process work first: policy.seen appended, then found and remembered.
    hook.post(body([commit_item(0, "train")]))
    hook.post(body([commit_item(1, "train")]))
    counts: dict[str, list[int]] = {"new": [], "retry": [], "approved": []}
    for n in range(1, 4):
        data = body([commit_item(10 * n + k, "train") for k in range(1 + n)])
        with statements(app) as seen:
            first = hook.post(data)
        counts["new"].append(len(seen))
        with statements(app) as seen:
            again = hook.post(data)
        counts["retry"].append(len(seen))
        assert again["items"] == first["items"]
    approve(app, first["items"][0]["request_id"], "alice")
    with statements(app) as seen:
        answer = hook.post(data)
    counts["approved"].append(len(seen))
    assert {i["state"] for i in answer["items"]} == {"approved"}
    assert max(counts["new"]) <= MAX_NEW_PUSH, counts
    assert max(counts["retry"]) <= MAX_RETRY, counts
    assert max(counts["approved"]) <= MAX_APPROVED, counts
    # The number of statements does not grow with the number of items in the push.
    assert len(set(counts["new"])) == 1 and len(set(counts["retry"])) == 1, counts


def test_audit_lock_is_taken_once_per_transaction_and_again_after_it_ends(app) -> None:  # type: ignore[no-untyped-def]
    from gate.server.extensions import db
    from gate.server.services import audit

    def is_lock(statement: str) -> bool:
        return "pg_advisory_xact_lock" in statement or "UPDATE audit_log SET seq" in statement

    with app.app_context():
        with statements(app) as seen:
            audit.lock()
            audit.lock()
            audit.append("test.one", actor=Actor("t", "system"), subject={})
            db.session.commit()
            audit.lock()  # a new transaction: taken again
            db.session.rollback()
            audit.append("test.two", actor=Actor("t", "system"), subject={})
            db.session.commit()
        assert [is_lock(s) for s in seen].count(True) == 3, seen
    assert audit_actions(app) == ["test.one", "test.two"]


def test_revoked_token_is_refused_on_the_next_request(app) -> None:  # type: ignore[no-untyped-def]
    from gate.server.extensions import db
    from gate.server.models import HookToken
    from gate.server.services.accounts import revoke_token

    hook = Hook(app, new_token(app))
    data = body([commit_item(1, "train")])
    hook.post(data)
    hook.post(data)
    with app.app_context():
        token_id = db.session.scalar(select(HookToken.id))
        revoke_token(token_id, actor=Actor("admin", "session-password"))
        db.session.commit()
    hook.post(data, status=401)
    hook.post(body([commit_item(2, "train")]), status=401)


def test_pause_takes_effect_and_ends_on_the_next_request(app) -> None:  # type: ignore[no-untyped-def]
    from gate.server.extensions import db
    from gate.server.models import User
    from gate.server.services.pauses import start_pause, stop_pauses

    add_reviewer(app, "alice")
    add_reviewer(app, "root", role="admin")
    hook = Hook(app, new_token(app))
    data = body([commit_item(1, "train")])
    request_id = hook.post(data)["items"][0]["request_id"]
    approve(app, request_id, "alice")
    assert hook.post(data)["items"][0]["state"] == "approved"
    with app.app_context():
        root = db.session.scalar(select(User).where(User.username == "root"))
        start_pause(root, "incident", ["train"], None, actor=ROOT)
        db.session.commit()
    paused = hook.post(data)
    assert paused["items"][0]["state"] == "paused" and paused["pauses"]
    with app.app_context():
        root = db.session.scalar(select(User).where(User.username == "root"))
        stop_pauses(root, actor=ROOT)
        db.session.commit()
    assert hook.post(data)["items"][0]["state"] == "approved"
    assert audit_actions(app).count("push.refused") == 1


def test_pause_that_reached_its_end_is_closed_by_the_next_request(app) -> None:  # type: ignore[no-untyped-def]
    from gate.server.extensions import db
    from gate.server.models import Pause, User
    from gate.server.services.pauses import start_pause

    add_reviewer(app, "alice")
    add_reviewer(app, "root", role="admin")
    hook = Hook(app, new_token(app))
    data = body([commit_item(1, "train")])
    request_id = hook.post(data)["items"][0]["request_id"]
    approve(app, request_id, "alice")
    with app.app_context():
        root = db.session.scalar(select(User).where(User.username == "root"))
        start_pause(root, "short", ["all"], datetime.now(UTC) + timedelta(hours=1), actor=ROOT)
        long = start_pause(root, "long", ["train"], None, actor=ROOT).id
        db.session.commit()
    assert hook.post(data)["items"][0]["state"] == "paused"
    with app.app_context():
        short = db.session.scalar(select(Pause).where(Pause.reason == "short"))
        short.until = datetime.now(UTC) - timedelta(seconds=1)  # type: ignore[union-attr]
        short_id = short.id  # type: ignore[union-attr]
        db.session.commit()
    answer = hook.post(data)
    assert answer["items"][0]["state"] == "paused" and answer["items"][0]["pauses"] == [long]
    assert audit_actions(app).count("pause.expired") == 1
    with app.app_context():
        assert db.session.get(Pause, short_id).end_kind == "expired"  # type: ignore[union-attr]


def test_policy_seen_once_per_policy(app) -> None:  # type: ignore[no-untyped-def]
    hook = Hook(app, new_token(app))
    for n in range(3):
        hook.post(body([commit_item(n, "train")]))
    hook.post(body([commit_item(9, "train")], policy="cd" * 32))
    hook.post(body([commit_item(10, "train")], policy="cd" * 32))
    hook.post(body([commit_item(11, "train")]))
    seen = [s["approvals"] for s in audit_subjects(app, "policy.seen")]
    assert audit_actions(app).count("policy.seen") == 2 and len(seen) == 2


def test_supersede_record_names_the_keys_and_discarded_approvals(app) -> None:  # type: ignore[no-untyped-def]
    """Two-approval guard: alice's approval stands alone when the next push supersedes."""
    add_reviewer(app, "alice")
    hook = Hook(app, new_token(app))
    items = [commit_item(1, "model"), commit_item(2, "model")]
    data = json.loads(body(items))
    data["policy"]["approvals"] = {"model": 2}
    first = hook.post(json.dumps(data).encode())["items"][0]["request_id"]
    approve(app, first, "alice")
    data["items"] = [*items, commit_item(3, "model")]
    data["new"] = data["items"][-1]["key"]
    second = hook.post(json.dumps(data).encode())["items"][0]["request_id"]
    (record,) = audit_subjects(app, "request.superseded")
    assert record["request"] == first and record["superseded_by"] == second
    assert record["keys"] == [i["key"] for i in items]
    assert record["approvals_discarded"] == ["alice"]


assert PASSWORD  # the reviewers above log in with it (tests.support.auditlog.approve)


def test_appends_in_one_transaction_chain_and_a_rollback_forgets_the_head(app) -> None:  # type: ignore[no-untyped-def]
    from gate.server.extensions import db
    from gate.server.models import AuditRecord
    from gate.server.services import audit
    from tests.support.audit import audit_problems

    with app.app_context():
        with statements(app) as seen:
            audit.append("test.one", actor=Actor("t", "system"), subject={})
            audit.append("test.two", actor=Actor("t", "system"), subject={"n": 2})
        assert sum("SELECT audit_log.seq, audit_log.hash" in s for s in seen) == 1, seen
        db.session.rollback()  # neither was committed: the next append must not follow them
        first = audit.append("test.three", actor=Actor("t", "system"), subject={})
        second = audit.append("test.four", actor=Actor("t", "system"), subject={})
        assert (first.seq, second.seq, second.prev_hash) == (1, 2, first.hash)
        db.session.commit()
        third = audit.append("test.five", actor=Actor("t", "system"), subject={})
        assert (third.seq, third.prev_hash) == (3, second.hash)
        db.session.commit()
        assert db.session.scalar(select(AuditRecord.seq).order_by(AuditRecord.seq.desc())) == 3
    assert audit_actions(app) == ["test.three", "test.four", "test.five"]
    assert audit_problems(app) == []
