"""gate in gitolite 3 over real SSH, installed by hand as the README says: a repo-specific hook
through LOCAL_CODE that runs gitolite's own ref check before gate, with GL_USER as the pusher.

gitolite runs as its own account (login shell /bin/sh, as gitolite's forced commands need) with
its home in a scratch directory; sshd runs as root on 127.0.0.1.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gitrepo import WorkClone
from tests.support.server import LiveServer
from tests.support.servers import (
    ROOT,
    Sshd,
    SshKey,
    held_then_approved,
    install_gate_values,
    need,
    readme_block,
    request_id_from,
    run_as,
    run_readme_block,
    served_ref,
    ssh_key,
    start_sshd,
    system_user,
)

pytestmark = pytest.mark.e2e


def enable_readme_rc_lines(rc: Path) -> None:
    """Uncomment, in gitolite's own rc file, each line the README says to uncomment."""
    text = rc.read_text()
    for line in readme_block("gitolite-rc").splitlines():
        commented = f"# {line.strip()}"
        assert commented in text, f"gitolite's rc has no line {commented!r} to uncomment"
        text = text.replace(commented, line.strip(), 1)
    rc.write_text(text)


class GitoliteHost:
    def __init__(self, scratch: Path, gate_bin: Path, user: str, server: LiveServer) -> None:
        self.scratch = scratch
        self.user = user
        self.home = scratch / "gitolite"
        self.repo = self.home / "repositories" / "models.git"
        keys = scratch / "keys"
        keys.mkdir()
        self.keys: dict[str, SshKey] = {
            name: ssh_key(keys, name) for name in ("admin", "alice", "agent-trainer")
        }
        for key in self.keys.values():
            key.path.with_suffix(".pub").chmod(0o644)
        run_as(user, "gitolite", "setup", "-pk", str(self.keys["admin"].path.with_suffix(".pub")))
        enable_readme_rc_lines(self.home / ".gitolite.rc")
        self.variables = {
            "GATE": str(gate_bin / "gate"),
            "OWNER": user,
            "GIT_HOME": str(self.home),
        }
        run_readme_block("gitolite-install", ROOT, self.variables)
        self.sshd: Sshd = start_sshd(scratch, user, "", self.home / ".ssh" / "authorized_keys")
        self.clones = 0
        self.admin = self.clone("admin", "gitolite-admin")
        for name in ("alice", "agent-trainer"):
            shutil.copy(self.keys[name].path.with_suffix(".pub"), self.admin.path / "keydir")
        conf = self.admin.path / "conf" / "gitolite.conf"
        conf.write_text(conf.read_text() + "\n" + readme_block("gitolite-conf"))
        self.admin_push("Add models with gate's hooks")
        assert self.repo.is_dir(), "the admin push did not create the repository"
        self.variables = install_gate_as_readme_says_for_gitolite(
            server, scratch, gate_bin, user, self.home, self.repo
        )

    def clone(self, key: str, repo: str = "models") -> WorkClone:
        self.clones += 1
        command = self.sshd.ssh_command(self.keys[key])
        return WorkClone(
            f"ssh://{self.user}@127.0.0.1:{self.sshd.daemon.port}/{repo}",
            self.scratch / f"clone{self.clones}",
            "-c",
            f"core.sshCommand={command}",
        )

    def admin_push(self, message: str) -> None:
        self.admin.commit(message)
        pushed = self.admin.push("HEAD:refs/heads/master")
        assert pushed.ok, pushed.stderr
        for complaint in ("FATAL", "WARNING", "repo-specific-hooks"):  # gitolite's own words
            assert complaint not in pushed.stderr, pushed.stderr


def install_gate_as_readme_says_for_gitolite(
    server: LiveServer, scratch: Path, gate_bin: Path, user: str, home: Path, repo: Path
) -> dict[str, str]:
    """The README's gitolite-gate-toml block, run with the same values as install-hook's."""
    admin = scratch / "admin"
    variables = install_gate_values(server, scratch, gate_bin, user, home, repo)
    run_readme_block("gitolite-gate-toml", admin, variables)
    return variables


@pytest.fixture
def host(scratch: Path, gate_bin: Path, gate_server: LiveServer) -> Iterator[GitoliteHost]:
    need("gitolite", "/usr/sbin/sshd", "ssh", "ssh-keygen")
    with system_user("gl", scratch / "gitolite", "/bin/sh") as user:
        gitolite = None
        try:
            gitolite = GitoliteHost(scratch, gate_bin, user, gate_server)
            yield gitolite
        finally:
            if gitolite is not None:
                gitolite.sshd.daemon.stop()


def test_gl_user_is_the_pusher(host: GitoliteHost, gate_server: LiveServer) -> None:
    held_then_approved(
        gate_server, host.clone("alice"), lambda: host.clone("agent-trainer"), "gitolite"
    )


def test_gitolite_denies_before_gate_asks_the_server(
    host: GitoliteHost, gate_server: LiveServer
) -> None:
    """agent-trainer may not write release/ branches: gitolite's own refusal comes first, and
    gate creates no request for a push that could never land."""
    human = host.clone("alice")
    human.commit("initial", {"train/loop.py": "steps = 1\n"})
    assert human.push().ok
    agent = host.clone("agent-trainer")
    agent.run("checkout", "--quiet", "-B", "main", "origin/main")
    agent.commit("Tune", {"train/loop.py": "steps = 2\n"})
    denied = agent.push("HEAD:refs/heads/release/1")
    assert not denied.ok
    assert "DENIED" in denied.stderr, denied.stderr
    assert not denied.gate_lines, "gate ran although gitolite denies the ref"
    assert requests_on(gate_server) == 0
    assert served_ref(agent, "refs/heads/release/1") is None


def test_gate_survives_a_push_to_gitolite_admin(
    host: GitoliteHost, gate_server: LiveServer
) -> None:
    """gitolite rewrites hooks/pre-receive* on every admin push; gate is among them."""
    human = host.clone("alice")
    human.commit("initial", {"train/loop.py": "steps = 1\n"})
    assert human.push().ok
    host.admin_push("An unrelated change to gitolite-admin")
    agent = host.clone("agent-trainer")
    agent.run("checkout", "--quiet", "-B", "main", "origin/main")
    agent.commit("Tune", {"train/loop.py": "steps = 2\n"})
    held = agent.push()
    assert not held.ok and request_id_from(held.gate_lines)
    assert served_ref(agent) == human.head()


def requests_on(server: LiveServer) -> int:
    from sqlalchemy import func, select

    from gate.server.database import command
    from gate.server.extensions import db
    from gate.server.models import ApprovalRequest

    with command(server.app):
        return int(db.session.scalar(select(func.count()).select_from(ApprovalRequest)) or 0)
