"""Test set-up shared by every suite: the test policy, a live server, reviewers, hook tokens and
bare repositories with the real hook installed."""

from __future__ import annotations

import re
import subprocess
import threading
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


def new_token(app) -> str:  # type: ignore[no-untyped-def]
    from gate.server.database import command
    from gate.server.services.accounts import create_token
    from gate.server.services.actor import Actor

    with command(app):
        return create_token("test hook", actor=Actor.cli())[1]


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


def request_id_from(lines: list[str]) -> int:
    for line in lines:
        if match := re.search(r"/requests/(\d+)", line):
            return int(match.group(1))
    raise AssertionError("no request URL in:\n" + "\n".join(lines))
