"""Test set-up shared by every suite: the test policy, a live server, reviewers, hook tokens and
bare repositories with the real hook installed."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from werkzeug.serving import make_server

from gate.git.install import install_hook
from tests.support.gitrepo import WorkClone
from tests.support.reviewer import ReviewerSession

POLICY = """\
protected_refs = ["refs/heads/main", "refs/heads/release/*", "refs/tags/*"]

[[guard]]
name = "training"
paths = ["train/**", "configs/train/**", "*.ckpt"]
approvals = 1

[[guard]]
name = "model"
paths = ["model/**"]
approvals = 2

[agents]
builtin = true
pushers = ["agent-*"]
emails = ["*@bots.example.com"]
names = []
trailers = ["Assisted-by:*"]
"""

PASSWORD = "correct horse battery staple"


@contextmanager
def serving(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The app on a real port on 127.0.0.1, in a thread, for the block; yields its base URL."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join(5)


@dataclass
class LiveServer:
    url: str
    app: object

    def reviewer(self, username: str, password: str = PASSWORD) -> ReviewerSession:
        session = ReviewerSession(self.url)
        response = session.login(username, password)
        assert response.ok and "/login" not in response.url, f"login failed for {username}"
        return session


@contextmanager
def live_server(app) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    """``app`` served on a free port of 127.0.0.1 by a thread, for the block."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{httpd.server_port}", app)
    finally:
        httpd.shutdown()
        thread.join(5)
        # Requests still in flight run in daemon threads nobody joins: one that held a
        # database connection past the app fixture's engine.dispose() left that connection
        # open, to be garbage-collected (a ResourceWarning) during some later test.
        for request in threading.enumerate():
            if request.name.endswith("(process_request_thread)"):
                request.join(10)


def add_reviewer(app, username: str, email: str | None = None, role: str = "reviewer") -> None:  # type: ignore[no-untyped-def]
    from gate.server.database import command
    from gate.server.services.accounts import add_user
    from gate.server.services.actor import Actor

    with command(app):
        add_user(
            username,
            f"{username.title()} Reviewer",
            email or f"{username}@example.com",
            PASSWORD,
            role,
            actor=Actor.cli(),
        )


TEST_HOST = "test-host"


def new_token(app, *repositories: str, host: str = TEST_HOST) -> str:  # type: ignore[no-untyped-def]
    """A git host's hook token for ``repositories`` (patterns), or every repository."""
    from gate.server.database import command
    from gate.server.services.accounts import create_hook_token
    from gate.server.services.actor import Actor

    with command(app):
        return create_hook_token(
            host,
            list(repositories),
            all_repositories=not repositories,
            name="test hook",
            actor=Actor.cli(),
        )[1]


def add_agent(app, username: str, operator: str = "operator") -> None:  # type: ignore[no-untyped-def]
    """An agent account operated by ``operator`` (a reviewer made for it when missing)."""
    from gate.server.database import command
    from gate.server.extensions import db
    from gate.server.models import User
    from gate.server.services.accounts import add_agent as add
    from gate.server.services.actor import Actor

    with app.app_context():
        missing = db.session.query(User).filter_by(username=operator).first() is None
    if missing:
        add_reviewer(app, operator)
    with command(app):
        add(username, operator, actor=Actor.cli())


def agent_token(app, username: str) -> str:  # type: ignore[no-untyped-def]
    """A read token for the agent account ``username`` (made when missing)."""
    from gate.server.database import command
    from gate.server.extensions import db
    from gate.server.models import User
    from gate.server.services.accounts import create_agent_token
    from gate.server.services.actor import Actor

    with app.app_context():
        missing = db.session.query(User).filter_by(username=username).first() is None
    if missing:
        add_agent(app, username)
    with command(app):
        return create_agent_token(username, actor=Actor.cli())[1]


@dataclass
class GatedRepo:
    bare: Path
    policy: Path
    token_file: Path
    server_url: str
    tmp: Path
    clones: int = 0

    def clone(self) -> WorkClone:
        self.clones += 1
        return WorkClone(self.bare, self.tmp / f"work{self.clones}")


def make_gated_repo(
    tmp: Path,
    server_url: str,
    token: str,
    name: str = "repo",
    policy: str = POLICY,
    object_format: str = "sha1",
) -> GatedRepo:
    tmp.mkdir(parents=True, exist_ok=True)
    bare = tmp / f"{name}.git"
    subprocess.run(
        [
            "git",
            "init",
            "--quiet",
            "--bare",
            "--initial-branch=main",
            f"--object-format={object_format}",
            str(bare),
        ],
        check=True,
    )
    policy_file = tmp / f"{name}-policy.toml"
    policy_file.write_text(policy)
    token_file = tmp / f"{name}-token"
    token_file.write_text(token + "\n")
    install_hook(str(bare), server_url, str(token_file), str(policy_file), name=name)
    return GatedRepo(bare, policy_file, token_file, server_url, tmp)


def request_state(app, request_id: int) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """A request as GET /api/v1/requests/ID answers it, read in-process (hook tokens cannot read
    requests, and a test's pushes need not name an agent account to give a read token to)."""
    from gate.server.services.decisions import get_request
    from gate.server.services.progress import request_summary

    with app.app_context():
        return request_summary(get_request(request_id))


def request_id_from(lines: list[str]) -> int:
    for line in lines:
        if match := re.search(r"/requests/(\d+)", line):
            return int(match.group(1))
    raise AssertionError("no request URL in:\n" + "\n".join(lines))


def eventually(check, what: str, limit: float = 30.0):  # type: ignore[no-untyped-def]
    """Poll ``check`` until it returns something truthy (a deadline, not a timing assertion)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def heartbeat_of(app, repository: str):  # type: ignore[no-untyped-def]
    """The server's heartbeat row for ``repository`` (detached from the session), or None."""
    from sqlalchemy import select

    from gate.server.database import command
    from gate.server.extensions import db
    from gate.server.models import Repository, RepositoryHeartbeat

    with command(app):
        row = db.session.scalar(
            select(RepositoryHeartbeat)
            .join(Repository, Repository.id == RepositoryHeartbeat.repository_id)
            .where(Repository.name == repository)
        )
        if row is not None:
            db.session.expunge(row)
        return row


def wait_for_heartbeat(app, repository: str):  # type: ignore[no-untyped-def]
    """The heartbeat row once the post-receive worker (detached) has sent one."""
    return eventually(lambda: heartbeat_of(app, repository), f"a heartbeat from {repository}", 60)
