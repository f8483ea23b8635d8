"""`gate user add --agent`, `gate token create/list/revoke`, run as real processes: scopes shown,
refusals in one line, revocation confirmed, every change audited; agents never log in."""

from __future__ import annotations

from sqlalchemy import select, update

from tests.support.audit import audit_records
from tests.support.cli import run_gate
from tests.support.reviewer import ReviewerSession
from tests.support.server import LiveServer, add_reviewer


def refused(result, text: str) -> bool:  # type: ignore[no-untyped-def]
    lines = result.stderr.strip().splitlines()
    return result.exit_code != 0 and len(lines) == 1 and text in lines[0] and not result.stdout


def test_agent_accounts_and_token_commands(server: LiveServer) -> None:
    app = server.app
    add_reviewer(app, "alice")
    assert refused(run_gate(app, "user", "add", "agent-trainer", "--agent"), "--operator HUMAN")
    added = run_gate(app, "user", "add", "agent-trainer", "--agent", "--operator", "alice")
    assert added.exit_code == 0, added.output
    assert "gate token create --agent agent-trainer --read" in added.stdout
    assert refused(
        run_gate(app, "user", "add", "agent-2", "--agent", "--operator", "agent-trainer"),
        "operator must be an active human account",
    )

    assert refused(run_gate(app, "token", "create", "--name", "git1"), "say which token")
    assert refused(run_gate(app, "token", "create", "--host", "git1"), "--all-repos")
    assert refused(
        run_gate(app, "token", "create", "--host", "git1", "--repo", "**"), "--all-repos"
    )
    assert refused(run_gate(app, "token", "create", "--host", "g", "--repo", "a//b"), "empty")
    hook = run_gate(app, "token", "create", "--host", "git1", "--repo", "ml/*", "--repo", "models")
    assert hook.exit_code == 0, hook.output
    assert "hook token for git host git1: repositories ml/*, models" in hook.stdout
    assert hook.stdout.strip().splitlines()[-1].startswith("gate_")
    everything = run_gate(app, "token", "create", "--host", "git2", "--all-repos")
    assert (
        everything.exit_code == 0
        and "warning: this hook token speaks for every" in everything.stderr
    )
    assert refused(run_gate(app, "token", "create", "--agent", "agent-trainer"), "add --read")
    assert refused(
        run_gate(app, "token", "create", "--agent", "alice", "--read"), "no agent account"
    )
    reader = run_gate(app, "token", "create", "--agent", "agent-trainer", "--read")
    assert reader.exit_code == 0, reader.output
    assert "reads the requests pushed by agent-trainer" in reader.stdout

    listed = run_gate(app, "token", "list")
    assert listed.exit_code == 0 and len(listed.stdout.splitlines()) == 3
    first, second, third = listed.stdout.splitlines()
    assert first.startswith("1\t") and "active" in first and "repositories ml/*, models" in first
    assert "every repository (--all-repos)" in second and "agent-trainer" in third
    assert "unscoped" not in listed.stderr

    kept = run_gate(app, "token", "revoke", "1", input="n\n")
    assert kept.exit_code == 1 and "nothing revoked" in kept.stderr
    assert "Revoke token 1 (hook token for git host git1" in kept.stderr
    assert run_gate(app, "token", "list").stdout.splitlines()[0].split("\t")[2] == "active"
    revoked = run_gate(app, "token", "revoke", "1", "--yes")
    assert revoked.exit_code == 0 and "revoked token 1" in revoked.stdout
    assert (
        run_gate(app, "token", "list").stdout.splitlines()[0].split("\t")[2].startswith("revoked")
    )
    assert refused(run_gate(app, "token", "revoke", "99", "--yes"), "there is no token 99")

    records = audit_records(app)
    created = [r["subject"] for r in records if r["action"] == "token.created"]
    assert [(c["kind"], c["host"], c["repositories"], c["agent"]) for c in created] == [
        ("hook", "git1", ["ml/*", "models"], None),
        ("hook", "git2", [], None),
        ("agent-read", None, [], "agent-trainer"),
    ]
    assert [r["subject"]["token_id"] for r in records if r["action"] == "token.revoked"] == [1]
    (agent,) = [
        r["subject"]
        for r in records
        if r["action"] == "user.added" and r["subject"]["role"] == "agent"
    ]
    assert agent["operator"] == "alice" and agent["kind"] == "agent"


def test_token_list_warns_about_unscoped_tokens(server: LiveServer) -> None:
    from gate.server.extensions import db
    from gate.server.models import HookToken

    assert run_gate(server.app, "token", "create", "--host", "old", "--all-repos").exit_code == 0
    with server.app.app_context():  # type: ignore[attr-defined]
        db.session.execute(update(HookToken).values(unscoped=True))  # as migration 0008 leaves it
        db.session.commit()
    listed = run_gate(server.app, "token", "list")
    assert "UNSCOPED" in listed.stdout
    assert "warning: token(s) 1 are unscoped" in listed.stderr
    add_reviewer(server.app, "root", role="admin")
    assert "Unscoped tokens:" in server.reviewer("root").page("/admin/tokens").text


def test_agent_accounts_cannot_log_in_or_approve(server: LiveServer) -> None:
    from gate.server.database import command
    from gate.server.extensions import db
    from gate.server.models import User
    from gate.server.services.accounts import authenticate, check_password, user_for_sso

    add_reviewer(server.app, "alice")
    assert (
        run_gate(server.app, "user", "add", "agent-a", "--agent", "--operator", "alice").exit_code
        == 0
    )
    for password in ("", "!agent accounts have no password", "correct horse battery staple"):
        session = ReviewerSession(server.url)
        assert "/login" in session.login("agent-a", password).url
    with command(server.app):
        agent = db.session.scalar(select(User).where(User.username == "agent-a"))
        assert agent is not None and agent.operator is not None
        assert agent.operator.username == "alice" and not agent.is_active
        assert authenticate("agent-a", "!agent accounts have no password") is None
        assert not check_password(agent, "!agent accounts have no password")
        assert user_for_sso("agent-a") is None
    failed = [r for r in audit_records(server.app) if r["action"] == "login.failed"]
    assert failed and all(r["subject"]["reason"] == "agent account" for r in failed)
