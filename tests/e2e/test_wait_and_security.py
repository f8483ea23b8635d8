"""gate wait against the live server; login rate limiting; trusted-header SSO; admin tokens."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support.gitrepo import CLAUDE_TRAILER
from tests.support.reviewer import ReviewerSession, csrf_from
from tests.support.server import (
    PASSWORD,
    GatedRepo,
    LiveServer,
    add_reviewer,
    agent_token,
    request_id_from,
    serving,
)

GATE = str(Path(sys.executable).with_name("gate"))


def gate_wait(server_url: str, token_file: Path, request_id: int, *extra: str):  # type: ignore[no-untyped-def]
    return subprocess.run(
        [
            GATE,
            "wait",
            str(request_id),
            "--server",
            server_url,
            "--token-file",
            str(token_file),
            "--interval",
            "0.2",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def held(
    gated: GatedRepo, steps: int, guard_file: str = "train/loop.py", pusher: str = "agent-trainer"
) -> tuple[object, int]:
    """A fresh clone pushes one agent commit to a guarded path as ``pusher`` (an agent account
    its git host authenticated); returns it and its request."""
    clone = gated.clone()
    clone.commit("agent", {guard_file: f"steps = {steps}\n"}, trailers=[CLAUDE_TRAILER])
    return clone, request_id_from(clone.push(pusher=pusher).gate_lines)


def read_token_file(server: LiveServer, gated: GatedRepo, agent: str) -> Path:
    """A file holding a read token of the agent account ``agent``, as gate wait takes it."""
    path = gated.tmp / f"{agent}-token"
    path.write_text(agent_token(server.app, agent) + "\n")
    return path


def test_gate_wait_exit_codes(gated: GatedRepo, server: LiveServer) -> None:
    mine = read_token_file(server, gated, "agent-trainer")
    _, pending = held(gated, 1)
    timed_out = gate_wait(server.url, mine, pending, "--timeout", "0.5")
    assert timed_out.returncode == 2, timed_out.stderr
    assert "is pending" in timed_out.stderr and "timed out" in timed_out.stderr

    assert server.reviewer("alice").decide(pending, "approve", "ok").ok
    approved = gate_wait(server.url, mine, pending, "--timeout", "10")
    assert approved.returncode == 0 and "approved" in approved.stderr

    _, other = held(gated, 2, "configs/train/x.yaml")
    assert server.reviewer("bob").decide(other, "deny", "not this week").ok
    denied = gate_wait(server.url, mine, other)
    assert denied.returncode == 1 and "not this week" in denied.stderr

    missing = gate_wait(server.url, mine, 999_999)
    assert missing.returncode == 3 and "no request 999999" in missing.stderr
    bad = gated.tmp / "bad-token"
    bad.write_text("gate_wrong\n")
    refused = gate_wait(server.url, bad, pending)
    assert refused.returncode == 3 and "refused the token" in refused.stderr


def test_gate_wait_sees_only_its_own_agents_requests(gated: GatedRepo, server: LiveServer) -> None:
    """An agent's read token reads the requests it pushed; another agent's answer as missing,
    and the git host's hook token (which the docs once told agents to use) reads nothing."""
    _, theirs = held(gated, 3, pusher="agent-other")
    _, mine = held(gated, 4, "configs/train/y.yaml")
    token = read_token_file(server, gated, "agent-trainer")
    own = gate_wait(server.url, token, mine, "--timeout", "0.3")
    assert own.returncode == 2 and f"request {mine} is pending" in own.stderr, own.stderr
    other = gate_wait(server.url, token, theirs, "--timeout", "0.3")
    assert other.returncode == 3 and f"no request {theirs}" in other.stderr, other.stderr
    assert "pending" not in other.stderr and "training" not in other.stderr
    hook = gate_wait(server.url, gated.token_file, mine, "--timeout", "0.3")
    assert hook.returncode == 3 and "refused the token" in hook.stderr, hook.stderr
    # The hook's refusal tells the agent which token to wait with.
    clone = gated.clone()
    clone.commit("agent", {"train/loop.py": "steps = 5\n"}, trailers=[CLAUDE_TRAILER])
    told = "\n".join(clone.push(pusher="agent-trainer").gate_lines)
    assert (
        "--token-file READ_TOKEN_FILE` (the agent account's own read token, never this hook's)"
        in told
    )
    assert "hook token cannot read requests" in hook.stderr


def test_gate_wait_keeps_polling_through_network_errors(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("gate_x\n")
    down = gate_wait("http://127.0.0.1:9", token, 1, "--timeout", "0.6")
    assert down.returncode == 4, "never reached the server: not the same as still undecided"
    assert down.stderr.count("; retrying") == 1, "reported once, not per poll"
    assert "timed out: cannot reach the gate server at http://127.0.0.1:9" in down.stderr
    assert "still undecided" not in down.stderr
    unreadable = gate_wait("http://127.0.0.1:9", tmp_path / "nope", 1)
    assert unreadable.returncode == 3 and "cannot read the token file" in unreadable.stderr


def test_gate_wait_never_told_the_state_is_not_still_undecided(
    tmp_path: Path, database_url: str
) -> None:
    """A server that answers, but only with errors (here: its database has no schema)."""
    from gate.server.app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "s" * 32})
    token = tmp_path / "token"
    token.write_text("gate_x\n")
    with serving(app) as url:
        failing = gate_wait(url, token, 1, "--timeout", "0.6")
    with app.app_context():
        from gate.server.extensions import db

        db.engine.dispose()  # nothing of this process may hold the database the test drops
    assert failing.returncode == 4, failing.stderr
    assert f"timed out: the gate server at {url} never said what state request 1 is in" in (
        failing.stderr
    )
    assert "HTTP 503: the database" in failing.stderr and "gate db upgrade" in failing.stderr
    assert "still undecided" not in failing.stderr


def test_gate_wait_reports_superseded(gated: GatedRepo, server: LiveServer) -> None:
    clone = gated.clone()
    clone.commit("one", {"train/loop.py": "a = 1\n"})
    first = request_id_from(clone.push(pusher="agent-x").gate_lines)
    clone.commit("two", {"train/loop.py": "a = 2\n"})
    second = request_id_from(clone.push(pusher="agent-x").gate_lines)
    result = gate_wait(server.url, read_token_file(server, gated, "agent-x"), first)
    assert result.returncode == 1 and f"superseded by request {second}" in result.stderr


def test_login_is_rate_limited(server: LiveServer) -> None:
    add_reviewer(server.app, "alice")
    for _ in range(5):
        wrong = ReviewerSession(server.url).login("alice", "guess guess guess")
        assert wrong.status_code == 400
    blocked = ReviewerSession(server.url)
    response = blocked.login("alice", PASSWORD)
    assert response.status_code == 429 and "Too many failed logins" in response.text
    assert blocked.page("/requests").url.endswith("/login?next=%2Frequests")
    # Other accounts from the same address are not locked out by one account's failures.
    add_reviewer(server.app, "bob")
    assert server.reviewer("bob").page("/requests").status_code == 200


def test_session_cookie_flags(server: LiveServer) -> None:
    add_reviewer(server.app, "alice")
    session = ReviewerSession(server.url)
    page = session.http.get(f"{server.url}/login")
    csrf = csrf_from(page.text)
    response = session.http.post(
        f"{server.url}/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": csrf},
        allow_redirects=False,
    )
    cookie = response.headers["Set-Cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


@pytest.mark.parametrize(
    "app_overrides",
    [{"GATE_SSO_HEADER": "X-Remote-User", "GATE_SSO_TRUSTED_PROXIES": "10.0.0.0/8"}],
)
def test_trusted_header_ignored_from_untrusted_address(server: LiveServer) -> None:
    add_reviewer(server.app, "alice")
    response = requests.get(
        f"{server.url}/requests", headers={"X-Remote-User": "alice"}, timeout=10
    )
    assert "/login" in response.url, "127.0.0.1 is not a configured proxy: header ignored"


@pytest.mark.parametrize(
    "app_overrides",
    [{"GATE_SSO_HEADER": "X-Remote-User", "GATE_SSO_TRUSTED_PROXIES": "127.0.0.1, ::1"}],
)
def test_trusted_header_logs_in_from_the_proxy(server: LiveServer) -> None:
    add_reviewer(server.app, "alice")
    response = requests.get(
        f"{server.url}/requests", headers={"X-Remote-User": "alice@example.com"}, timeout=10
    )
    assert response.status_code == 200 and "Alice Reviewer" in response.text
    unknown = requests.get(
        f"{server.url}/requests", headers={"X-Remote-User": "mallory"}, timeout=10
    )
    assert "/login" in unknown.url


def test_admin_revokes_hook_token_and_hook_fails_closed(
    gated: GatedRepo, server: LiveServer
) -> None:
    add_reviewer(server.app, "root", role="admin")
    admin = server.reviewer("root")
    listing = admin.page("/admin/tokens")
    assert "test hook" in listing.text and "hook token for git host test-host" in listing.text
    unconfirmed = admin.confirmed_post("/admin/tokens/1/revoke")
    assert "Tick the box to confirm" in unconfirmed.text and "revoked 20" not in unconfirmed.text
    revoked = admin.confirmed_post("/admin/tokens/1/revoke", {"confirm": "y"})
    assert revoked.ok and "Revoked token 1" in revoked.text
    clone = gated.clone()
    clone.commit("agent", {"train/loop.py": "x = 1\n"}, trailers=[CLAUDE_TRAILER])
    result = clone.push()
    assert not result.ok and "HTTP 401" in "\n".join(result.gate_lines)

    created = admin.confirmed_post(
        "/admin/tokens", {"kind": "hook", "host": "new-git-host", "repositories": "ml/*\nrepo"}
    )
    assert created.ok and "not shown again" in created.text
    assert "hook token for git host new-git-host: repositories ml/*, repo" in created.text
    unnamed = admin.confirmed_post("/admin/tokens", {"kind": "hook", "host": "h"})
    assert "names the repositories it speaks for" in unnamed.text
    assert "not shown again" not in unnamed.text
    added = admin.confirmed_post(
        "/admin/users",
        {
            "username": "dave",
            "name": "Dave Reviewer",
            "email": "dave@example.com",
            "role": "reviewer",
            "password": "a long enough password",
        },
    )
    assert added.ok and "Added dave" in added.text
    dave = ReviewerSession(server.url)
    assert "/login" not in dave.login("dave", "a long enough password").url
    short = admin.confirmed_post(
        "/admin/users",
        {"username": "eve", "name": "Eve", "email": "eve@example.com", "password": "short"},
    )
    assert "at least 10 characters" in short.text
