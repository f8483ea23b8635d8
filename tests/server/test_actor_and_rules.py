"""Who acted comes from the edge, not from the name; the live count of approvals and the
verifier's are one rule; migration 0005 keeps one standing approval per reviewer."""

from __future__ import annotations

from sqlalchemy import select

from gate.audit.export import jsonl_bytes
from gate.audit.verify import approval_progress, distinct_approvers, held_requests, parse_records
from gate.resources import resource_dir
from tests.support.audit import audit_records
from tests.support.auditlog import PASSWORD, approve, build_history, commit_item
from tests.support.auditlog import push as hook_push
from tests.support.server import add_reviewer, new_token

MIGRATIONS = str(resource_dir("migrations"))


def test_a_web_admin_named_system_is_logged_as_a_web_session(app, server) -> None:  # type: ignore[no-untyped-def]
    add_reviewer(app, "system", role="admin")
    admin = server.reviewer("system")
    added = admin.confirmed_post(
        "/admin/users",
        {
            "username": "erin",
            "name": "Erin Reviewer",
            "email": "erin@example.com",
            "password": PASSWORD,
            "role": "reviewer",
        },
    )
    assert added.ok
    who = [
        (r["actor"], r["actor_auth"], r["subject"]["user"])
        for r in audit_records(app)
        if r["action"] == "user.added"
    ]
    assert who == [("system", "cli", "system"), ("system", "session-password", "erin")]


def _verifier_view(app) -> dict[int, tuple[set[str], bool]]:  # type: ignore[no-untyped-def]
    records, problems = parse_records(jsonl_bytes(audit_records(app)))
    assert problems == []
    view = {}
    for request_id, held in held_requests(records).items():
        counted, _ = distinct_approvers(
            ((reviewer, email) for reviewer, (email, _) in held.approvals.items()), held.proposers
        )
        progress = approval_progress(held.required, counted)
        view[request_id] = (set(counted.values()), all(g >= n for g, n in progress.values()))
    return view


def _live_view(app) -> dict[int, tuple[set[str], bool]]:  # type: ignore[no-untyped-def]
    from gate.server.extensions import db
    from gate.server.models import ApprovalRequest
    from gate.server.services.progress import approvers, is_satisfied

    with app.app_context():
        return {
            r.id: ({u.username for u in approvers(r)}, is_satisfied(r))
            for r in db.session.scalars(select(ApprovalRequest))
        }


def test_live_count_and_verifier_count_agree_on_the_same_records(app) -> None:  # type: ignore[no-untyped-def]
    """Approvals, a withdrawal, a re-approval, a disabled reviewer: the server's progress and
    the verifier's replay of the exported records name the same approvers."""
    from gate.server.database import command
    from gate.server.extensions import db
    from gate.server.models import User
    from gate.server.services.accounts import add_user, set_active
    from gate.server.services.actor import Actor
    from gate.server.services.decisions import get_request, withdraw_approval

    build_history(app)
    with command(app):
        add_user("erin", "Erin Reviewer", "erin@example.com", PASSWORD, actor=Actor.cli())
    # No pusher: neither push supersedes the other's request.
    model = hook_push(app, [commit_item(20, "model")], pusher=None)["items"][0]["request_id"]
    other = hook_push(app, [commit_item(21, "model")], pusher=None)["items"][0]["request_id"]
    approve(app, model, "alice")
    approve(app, other, "erin")
    approve(app, other, "bob")
    with command(app):
        alice = db.session.scalar(select(User).where(User.username == "alice"))
        withdraw_approval(get_request(model), alice, actor=Actor("alice", "session-password"))
    approve(app, model, "bob")
    approve(app, model, "alice")  # again, after withdrawing
    with command(app):
        bob = db.session.scalar(select(User).where(User.username == "bob"))
        set_active(bob, False, actor=Actor.cli())
    live, verifier = _live_view(app), _verifier_view(app)
    assert live == verifier
    assert live[model] == ({"alice"}, False)
    assert live[other][0] == {"erin"}


def test_migration_0005_withdraws_the_twin_of_a_standing_approval(app) -> None:  # type: ignore[no-untyped-def]
    from flask_migrate import downgrade, upgrade

    from gate.server.extensions import db
    from gate.server.models import Decision

    add_reviewer(app, "alice")
    new_token(app)
    request_id = hook_push(app, [commit_item(1, "model")])["items"][0]["request_id"]
    approve(app, request_id, "alice")
    with app.app_context():
        downgrade(directory=MIGRATIONS, revision="0003")
        first = db.session.scalar(select(Decision))
        assert first is not None
        first_id = first.id
        twin = Decision(
            request_id=first.request_id,
            reviewer_id=first.reviewer_id,
            verdict="approve",
            comment="double-click",
            created_at=first.created_at,
        )
        db.session.add(twin)
        db.session.commit()
        twin_id = twin.id
        db.session.remove()
        upgrade(directory=MIGRATIONS)
        rows = db.session.execute(
            select(Decision.id, Decision.withdrawn_at).order_by(Decision.id)
        ).all()
    assert [(i, w is None) for i, w in rows] == [(first_id, True), (twin_id, False)]
