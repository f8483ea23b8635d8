"""Fixtures: a real database (SQLite, or PostgreSQL via GATE_TEST_DATABASE_URL), the app, a live
server on a real port, and bare repositories with the real hook installed."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from gate.app import create_app
from gate.commands.database import upgrade_database
from gate.commands.install_hook import install_hook
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


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for one test."""
    base = os.environ.get("GATE_TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'gate.db'}"
        return
    url = make_url(base)
    name = f"gate_test_{secrets.token_hex(6)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def app_overrides() -> dict[str, object]:
    """Extra app settings; a test module (or a parametrize) overrides this fixture."""
    return {}


@pytest.fixture
def app(database_url: str, tmp_path: Path, app_overrides: dict[str, object]):  # type: ignore[no-untyped-def]
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": secrets.token_hex(16),
            "GATE_AUDIT_KEY_DIR": str(tmp_path / "audit-keys"),
            **app_overrides,
        }
    )
    upgrade_database(app)
    yield app
    with app.app_context():
        from gate.extensions import db

        db.engine.dispose()


@dataclass
class LiveServer:
    url: str
    app: object

    def reviewer(self, username: str, password: str = PASSWORD) -> ReviewerSession:
        session = ReviewerSession(self.url)
        response = session.login(username, password)
        assert response.ok and "/login" not in response.url, f"login failed for {username}"
        return session


@pytest.fixture
def server(app) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{httpd.server_port}", app)
    finally:
        httpd.shutdown()
        thread.join(5)


def add_reviewer(app, username: str, email: str | None = None, role: str = "reviewer") -> None:  # type: ignore[no-untyped-def]
    from gate.services.accounts import add_user

    with app.app_context():
        add_user(
            username,
            f"{username.title()} Reviewer",
            email or f"{username}@example.com",
            PASSWORD,
            role,
        )


def new_token(app) -> str:  # type: ignore[no-untyped-def]
    from gate.services.accounts import create_token

    with app.app_context():
        return create_token("test hook")[1]


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
    tmp: Path, server_url: str, token: str, name: str = "repo", policy: str = POLICY
) -> GatedRepo:
    tmp.mkdir(parents=True, exist_ok=True)
    bare = tmp / f"{name}.git"
    subprocess.run(
        ["git", "init", "--quiet", "--bare", "--initial-branch=main", str(bare)], check=True
    )
    policy_file = tmp / f"{name}-policy.toml"
    policy_file.write_text(policy)
    token_file = tmp / f"{name}-token"
    token_file.write_text(token + "\n")
    install_hook(str(bare), server_url, str(token_file), str(policy_file), name=name)
    return GatedRepo(bare, policy_file, token_file, server_url, tmp)


@pytest.fixture
def gated(server: LiveServer, tmp_path: Path) -> GatedRepo:
    """A bare repository with gate's hook, talking to the live server; reviewers alice, bob, carol."""
    for name in ("alice", "bob", "carol"):
        add_reviewer(server.app, name)
    return make_gated_repo(tmp_path / "git", server.url, new_token(server.app))


def request_id_from(lines: list[str]) -> int:
    for line in lines:
        if match := re.search(r"/requests/(\d+)", line):
            return int(match.group(1))
    raise AssertionError("no request URL in:\n" + "\n".join(lines))
