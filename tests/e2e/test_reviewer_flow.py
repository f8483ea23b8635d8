"""Sign-off that means something: step-up, attestation, withdrawal, superseding, separation of
duties and disabled reviewers, driven by real pushes and a reviewer's real HTTP session."""

from __future__ import annotations

import requests
from sqlalchemy import func, select

from tests.support.gitrepo import CLAUDE_TRAILER, remote_ref
from tests.support.server import (
    PASSWORD,
    POLICY,
    GatedRepo,
    LiveServer,
    add_reviewer,
    make_gated_repo,
    new_token,
    request_id_from,
    request_state,
)

AGENT = ("Build Bot", "ci@bots.example.com")


def seed(gated: GatedRepo):  # type: ignore[no-untyped-def]
    clone = gated.clone()
    clone.commit("initial", {"train/loop.py": "steps = 1\n", "model/net.py": "layers = 1\n"})
    assert clone.push().ok
    return clone


def db_count(server: LiveServer, model, **where) -> int:  # type: ignore[no-untyped-def]
    from gate.server.extensions import db

    with server.app.app_context():  # type: ignore[attr-defined]
        stmt = select(func.count()).select_from(model)
        for name, value in where.items():
            stmt = stmt.where(getattr(model, name) == value)
        return db.session.scalar(stmt) or 0


def audit_actions(server: LiveServer) -> list[str]:
    from gate.server.extensions import db
    from gate.server.models import AuditRecord

    with server.app.app_context():  # type: ignore[attr-defined]
        return list(db.session.scalars(select(AuditRecord.action).order_by(AuditRecord.seq)))


def api_state(server: LiveServer, gated: GatedRepo, request_id: int) -> dict:  # type: ignore[type-arg]
    return request_state(server.app, request_id)


def test_wrong_step_up_password_records_nothing(gated: GatedRepo, server: LiveServer) -> None:
    from gate.server.models import Decision

    clone = seed(gated)
    clone.commit("agent", {"train/loop.py": "steps = 2\n"}, trailers=[CLAUDE_TRAILER])
    request_id = request_id_from(clone.push().gate_lines)
    alice = server.reviewer("alice")
    before = audit_actions(server)

    wrong = alice.decide(request_id, "approve", "ok", password="not my password")
    assert wrong.status_code == 403 and "password was not accepted" in wrong.text
    missing = alice.decide(request_id, "approve", "ok", password="")
    assert missing.status_code == 403
    unticked = alice.decide(request_id, "approve", "ok", attest="")
    assert unticked.status_code == 400 and "tick the statement" in unticked.text

    assert db_count(server, Decision) == 0
    added = audit_actions(server)[len(before) :]
    assert added == ["stepup.failed", "stepup.failed"]
    assert api_state(server, gated, request_id)["state"] == "pending"
    assert not clone.push().ok


def test_approval_stores_the_attested_statement(gated: GatedRepo, server: LiveServer) -> None:
    from gate.server.extensions import db
    from gate.server.models import Decision

    clone = seed(gated)
    sha = clone.commit("agent", {"train/loop.py": "steps = 3\n"}, trailers=[CLAUDE_TRAILER])
    request_id = request_id_from(clone.push().gate_lines)
    alice = server.reviewer("alice")
    page = alice.page(f"/requests/{request_id}").text
    assert f"I reviewed commit {sha[:12]}" in page and "for guard training" in page
    assert alice.decide(request_id, "approve", "fine").ok
    with server.app.app_context():  # type: ignore[attr-defined]
        decision = db.session.scalars(select(Decision)).one()
        assert decision.attestation is not None and decision.attested_sha256
        assert f"commit {sha[:12]}" in decision.attestation
        assert decision.attested_sha256 in decision.attestation
        assert decision.auth_method == "session-password+step-up-password"
    assert clone.push().ok and remote_ref(gated.bare) == sha


def test_stale_page_cannot_approve_changed_content(gated: GatedRepo, server: LiveServer) -> None:
    clone = seed(gated)
    clone.commit("agent", {"train/loop.py": "steps = 4\n"}, trailers=[CLAUDE_TRAILER])
    request_id = request_id_from(clone.push().gate_lines)
    stale = server.reviewer("alice").decide(request_id, "approve", "", shown_sha256="0" * 64)
    assert stale.status_code == 409 and "changed since you loaded it" in stale.text


def test_withdrawn_approval_stops_counting(gated: GatedRepo, server: LiveServer) -> None:
    clone = seed(gated)
    sha = clone.commit("wider", {"model/net.py": "layers = 2\n"}, author=AGENT)
    request_id = request_id_from(clone.push().gate_lines)
    alice, bob = server.reviewer("alice"), server.reviewer("bob")
    assert alice.decide(request_id, "approve", "ok").ok
    assert api_state(server, gated, request_id)["approvals"]["model"]["given"] == 1
    withdrawn = alice.withdraw(request_id)
    assert withdrawn.ok and "withdrawn" in withdrawn.text
    assert api_state(server, gated, request_id)["approvals"]["model"]["given"] == 0
    assert "approval.withdrawn" in audit_actions(server)
    assert alice.withdraw(request_id).status_code == 409
    assert bob.decide(request_id, "approve", "ok").ok
    refused = clone.push()
    assert not refused.ok and "model 1/2" in "\n".join(refused.gate_lines)
    assert alice.decide(request_id, "approve", "again, after another look").ok
    assert clone.push().ok and remote_ref(gated.bare) == sha
    assert bob.withdraw(request_id).status_code == 409, "no withdrawal once approved"


def test_new_push_supersedes_and_approvals_do_not_carry_over(
    gated: GatedRepo, server: LiveServer
) -> None:
    clone = seed(gated)
    clone.commit("wider", {"model/net.py": "layers = 2\n"})
    first = request_id_from(clone.push(pusher="agent-x").gate_lines)
    assert server.reviewer("alice").decide(first, "approve", "ok").ok
    clone.run("commit", "-q", "--amend", "-m", "wider, fixed")
    sha = clone.head()
    result = clone.push(pusher="agent-x")
    assert not result.ok
    second = request_id_from(result.gate_lines)
    assert second != first
    old = api_state(server, gated, first)
    assert old["state"] == "superseded" and old["superseded_by"] == second
    new = api_state(server, gated, second)
    assert new["state"] == "pending" and new["approvals"]["model"]["given"] == 0
    assert "request.superseded" in audit_actions(server)

    bob = server.reviewer("bob")
    page = bob.page(f"/requests/{first}").text
    assert "Superseded" in page and f'href="/requests/{second}"' in page
    assert bob.decide(first, "approve", "ok").status_code == 409
    queue = bob.page("/requests?state=superseded").text
    assert f"Request #{first}" in queue and f"Request #{second}" not in queue

    # A re-push of the same content stays on the same request.
    assert request_id_from(clone.push(pusher="agent-x").gate_lines) == second
    assert bob.decide(second, "approve", "ok").ok
    assert server.reviewer("carol").decide(second, "approve", "ok").ok
    assert clone.push(pusher="agent-x").ok and remote_ref(gated.bare) == sha


def test_stacked_commit_supersedes_and_holds_everything_again(
    gated: GatedRepo, server: LiveServer
) -> None:
    clone = seed(gated)
    a = clone.commit("one", {"train/loop.py": "steps = 5\n"})
    first = request_id_from(clone.push(pusher="agent-x").gate_lines)
    b = clone.commit("two", {"train/loop.py": "steps = 6\n"})
    second = request_id_from(clone.push(pusher="agent-x").gate_lines)
    assert api_state(server, gated, first)["superseded_by"] == second
    page = server.reviewer("alice").page(f"/requests/{second}").text
    assert a[:12] in page and b[:12] in page, "the new request holds both commits"


def test_disabled_reviewer_approvals_stop_counting(gated: GatedRepo, server: LiveServer) -> None:
    add_reviewer(server.app, "root", role="admin")
    clone = seed(gated)
    clone.commit("wider", {"model/net.py": "layers = 3\n"}, author=AGENT)
    request_id = request_id_from(clone.push().gate_lines)
    assert server.reviewer("alice").decide(request_id, "approve", "ok").ok
    assert server.reviewer("bob").page("/admin/users").status_code == 403

    admin = server.reviewer("root")
    from gate.server.models import User

    with server.app.app_context():  # type: ignore[attr-defined]
        from gate.server.extensions import db

        alice_id = db.session.scalar(select(User.id).where(User.username == "alice"))
    disabled = admin.confirmed_post(f"/admin/users/{alice_id}/active")
    assert disabled.ok and "Disabled alice" in disabled.text
    assert api_state(server, gated, request_id)["approvals"]["model"]["given"] == 0
    assert "user.disabled" in audit_actions(server)
    assert server.reviewer("bob").decide(request_id, "approve", "ok").ok
    assert not clone.push().ok
    # A disabled reviewer can neither log in nor use an old session.
    login = requests.Session()
    from tests.support.reviewer import ReviewerSession

    session = ReviewerSession(server.url)
    assert "/login" in session.login("alice", PASSWORD).url
    del login
    assert server.reviewer("carol").decide(request_id, "approve", "ok").ok
    assert clone.push().ok


def test_operator_named_on_behalf_of_cannot_approve(gated: GatedRepo, server: LiveServer) -> None:
    clone = seed(gated)
    clone.commit(
        "agent for alice",
        {"train/loop.py": "steps = 7\n"},
        trailers=[CLAUDE_TRAILER, "On-behalf-of: Alice Reviewer <ALICE@example.com>"],
    )
    request_id = request_id_from(clone.push().gate_lines)
    alice = server.reviewer("alice")
    assert "You cannot approve: you operate the agent" in alice.page(f"/requests/{request_id}").text
    refused = alice.decide(request_id, "approve", "mine")
    assert refused.status_code == 403 and "you operate the agent" in refused.text
    assert alice.decide(request_id, "deny", "I would rather not").ok, "operators may still deny"


def test_policy_owner_of_agent_account_cannot_approve(tmp_path, server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    for name in ("alice", "bob"):
        add_reviewer(server.app, name)
    policy = POLICY + '\n[agents.owners]\nagent-x = "bob@example.com"\n'
    gated = make_gated_repo(tmp_path / "git", server.url, new_token(server.app), policy=policy)
    clone = seed(gated)
    clone.commit("by the agent account", {"train/loop.py": "steps = 8\n"})
    request_id = request_id_from(clone.push(pusher="agent-x").gate_lines)
    refused = server.reviewer("bob").decide(request_id, "approve", "")
    assert refused.status_code == 403 and "you operate the agent" in refused.text
    assert server.reviewer("alice").decide(request_id, "approve", "").ok
    assert clone.push(pusher="agent-x").ok


def test_guard_limited_to_a_group(gated: GatedRepo, server: LiveServer) -> None:
    add_reviewer(server.app, "root", role="admin")
    admin = server.reviewer("root")
    assert admin.confirmed_post("/admin/groups", {"name": "ml-leads"}).ok
    from gate.server.extensions import db
    from gate.server.models import ReviewerGroup, User

    with server.app.app_context():  # type: ignore[attr-defined]
        group_id = db.session.scalar(select(ReviewerGroup.id))
        carol_id = db.session.scalar(select(User.id).where(User.username == "carol"))
    assert admin.confirmed_post(
        f"/admin/groups/{group_id}/members", {f"g{group_id}-members": str(carol_id)}
    ).ok
    typo = admin.confirmed_post("/admin/guards", {"guard": "trainig", "groups": str(group_id)})
    assert "no policy gate has seen has a guard named &#39;trainig&#39;" in typo.text
    # Set before the first push brings the policy to gate: the admin says so.
    saved = admin.confirmed_post(
        "/admin/guards", {"guard": "training", "groups": str(group_id), "not_pushed_yet": "y"}
    )
    assert saved.ok and "Saved who may approve guard training" in saved.text

    clone = seed(gated)
    clone.commit("agent", {"train/loop.py": "steps = 9\n"}, trailers=[CLAUDE_TRAILER])
    request_id = request_id_from(clone.push().gate_lines)
    refused = server.reviewer("alice").decide(request_id, "approve", "")
    assert refused.status_code == 403 and "none of the reviewer groups" in refused.text
    assert server.reviewer("carol").decide(request_id, "approve", "").ok
    assert clone.push().ok


def test_forged_and_malformed_posts_are_clear_errors(gated: GatedRepo, server: LiveServer) -> None:
    clone = seed(gated)
    clone.commit("agent", {"train/loop.py": "steps = 10\n"}, trailers=[CLAUDE_TRAILER])
    request_id = request_id_from(clone.push().gate_lines)
    alice = server.reviewer("alice")
    no_csrf = alice.http.post(
        f"{server.url}/requests/{request_id}/decision", data={"decision": "approve"}
    )
    assert no_csrf.status_code == 400 and "Traceback" not in no_csrf.text
    odd = alice.decide(request_id, "maybe", "x")
    assert odd.status_code == 400 and "Not a valid choice" in odd.text
    bad_hash = alice.decide(request_id, "approve", "", shown_sha256="zz")
    assert bad_hash.status_code == 400
    assert alice.page("/requests?page=abc&state=bogus&q=%25_").status_code == 200
    assert alice.page("/requests/999999").status_code == 404
    assert alice.post("/requests/999999/withdraw").status_code in (400, 404, 409)
