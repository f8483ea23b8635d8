"""gate behind a real OpenSSH server, with the README's recipes for telling the hook who pushed.

sshd runs as root on 127.0.0.1 with its own configuration and host key and logs in to a real
account whose login shell is git-shell, as on a plain git host.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gitrepo import CLAUDE_TRAILER, WorkClone
from tests.support.server import LiveServer
from tests.support.servers import (
    ROOT,
    Sshd,
    authorized_keys_from_readme,
    held_then_approved,
    install_gate_as_readme_says,
    need,
    pusher_of_request,
    pushes_without_pusher,
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


class SshHost:
    """One git account (login shell git-shell), its repository with gate installed as the
    README says, and the keys of alice (human) and agent-trainer (an agent account)."""

    def __init__(self, scratch: Path, gate_bin: Path, user: str, server: LiveServer) -> None:
        self.scratch = scratch
        self.user = user
        self.home = scratch / "home"
        self.repo = self.home / "models.git"
        run_as(user, "git", "init", "--quiet", "--bare", "--initial-branch=main", str(self.repo))
        self.variables = install_gate_as_readme_says(
            server, scratch, gate_bin, user, self.home, self.repo
        )
        keys = scratch / "keys"
        keys.mkdir()
        self.keys = {
            "alice@laptop": ssh_key(keys, "alice"),
            "trainer-bot": ssh_key(keys, "trainer"),
        }
        self.sshd: Sshd | None = None
        self.clones = 0

    def serve(self, config_lines: str, authorized_keys: str) -> Sshd:
        self.sshd = start_sshd(self.scratch, self.user, config_lines, authorized_keys)
        return self.sshd

    def clone(self, key: str) -> WorkClone:
        assert self.sshd is not None
        self.clones += 1
        command = self.sshd.ssh_command(self.keys[key])
        return WorkClone(
            self.sshd.url(self.repo),
            self.scratch / f"clone{self.clones}",
            "-c",
            f"core.sshCommand={command}",
        )

    def ssh(self, key: str, remote_command: str) -> subprocess.CompletedProcess[str]:
        assert self.sshd is not None
        command = self.sshd.ssh_command(self.keys[key]).split()
        port = str(self.sshd.daemon.port)
        target = f"{self.user}@127.0.0.1"
        return subprocess.run(
            [*command, "-p", port, target, remote_command], capture_output=True, text=True
        )

    def stop(self) -> None:
        if self.sshd is not None:
            self.sshd.daemon.stop()


@pytest.fixture
def host(scratch: Path, gate_bin: Path, gate_server: LiveServer) -> Iterator[SshHost]:
    need("/usr/sbin/sshd", "ssh", "ssh-keygen", "git-shell")
    git_shell = subprocess.run(
        ["sh", "-c", "command -v git-shell"], capture_output=True, text=True, check=True
    ).stdout.strip()
    with system_user("ssh", scratch / "home", git_shell) as user:
        ssh_host = SshHost(scratch, gate_bin, user, gate_server)
        try:
            yield ssh_host
        finally:
            ssh_host.stop()


def test_environment_per_key_with_permit_user_environment(
    host: SshHost, gate_server: LiveServer
) -> None:
    keys = authorized_keys_from_readme(readme_block("ssh-environment-keys"), host.keys)
    host.serve(readme_block("sshd-config"), keys)
    held_then_approved(gate_server, host.clone("alice@laptop"), lambda: host.clone("trainer-bot"))


def test_forced_command_works_with_git_shell(host: SshHost, gate_server: LiveServer) -> None:
    run_readme_block("ssh-forced-command-install", ROOT, host.variables)
    keys = authorized_keys_from_readme(readme_block("ssh-forced-command-keys"), host.keys)
    host.serve("", keys)
    held_then_approved(gate_server, host.clone("alice@laptop"), lambda: host.clone("trainer-bot"))


def test_forced_command_runs_nothing_but_git(host: SshHost) -> None:
    """The agent's key cannot name another pusher, nor get a shell, through the script."""
    run_readme_block("ssh-forced-command-install", ROOT, host.variables)
    host.serve("", authorized_keys_from_readme(readme_block("ssh-forced-command-keys"), host.keys))
    for command in ("gate-pusher alice", "sh -c id", "git-receive-pack"):
        result = host.ssh("trainer-bot", command)
        assert result.returncode != 0
        assert "only git fetch, push and archive are allowed" in result.stderr, result.stderr
    login = host.ssh("trainer-bot", "")
    assert login.returncode != 0


def test_the_old_env_recipe_fails_with_git_shell(host: SshHost) -> None:
    """Why the README's recipe changed: git-shell -c runs only git's commands, not env."""
    old = (
        'command="env REMOTE_USER=agent-trainer git-shell -c \\"$SSH_ORIGINAL_COMMAND\\"",restrict'
    )
    host.serve("", f"{old} {host.keys['trainer-bot'].public}\n")
    assert host.sshd is not None
    clone = subprocess.run(
        ["git", "-c", f"core.sshCommand={host.sshd.ssh_command(host.keys['trainer-bot'])}",
         "clone", "--quiet", host.sshd.url(host.repo), str(host.scratch / "old")],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert clone.returncode != 0 and "unrecognized command" in clone.stderr, clone.stderr


def test_without_permit_user_environment_the_pusher_is_unknown(
    host: SshHost, gate_server: LiveServer
) -> None:
    """sshd drops environment= without a word: the hook sees no pusher. gate still holds what
    the commits' own marks show (here Claude Code's trailer), and the request names no pusher."""
    keys = authorized_keys_from_readme(readme_block("ssh-environment-keys"), host.keys)
    host.serve("", keys)
    human = host.clone("alice@laptop")
    human.commit("initial", {"train/loop.py": "steps = 1\n"})
    assert human.push().ok
    agent = host.clone("trainer-bot")
    agent.commit("Tune", {"train/loop.py": "steps = 2\n"}, trailers=[CLAUDE_TRAILER])
    held = agent.push()
    assert not held.ok and served_ref(agent) == human.head()
    assert pusher_of_request(gate_server, request_id_from(held.gate_lines)) is None
    pushes_without_pusher(gate_server, 1)  # the human's push: shown on /admin/repositories
