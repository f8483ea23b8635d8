"""install-hook run by the repository's owner where an earlier install as root left root's
files (issue 12 point 7): the owner's install replaces them, or, where root's folders stop it,
refuses before writing anything, never with a traceback after the hooks were replaced."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from gate.git.install import install_hook
from tests.support.server import POLICY, LiveServer, new_token

OWNER = "nobody"


def _as_owner(gate_bin: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", OWNER, "--", str(gate_bin / "gate"), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_owner_replaces_what_a_root_install_left(
    scratch: Path, gate_bin: Path, gate_server: LiveServer
) -> None:
    repo = scratch / "models.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(repo)], check=True)
    policy, token = scratch / "policy.toml", scratch / "hook-token"
    policy.write_text(POLICY)
    token.write_text(new_token(gate_server.app) + "\n")
    for path in (policy, token):
        path.chmod(0o644)
    install_hook(str(repo), gate_server.url, str(token), str(policy))  # root, on root's repo
    subprocess.run(["chown", "-R", f"{OWNER}:", str(repo)], check=True)
    left = [repo / "gate.toml", repo / "hooks" / "pre-receive", repo / "hooks" / "post-receive"]
    for path in left:  # what an install as root into the owner's repository left
        os.chown(path, 0, 0)
    options = ["--server", gate_server.url, "--token-file", str(token), "--policy", str(policy)]

    installed = _as_owner(gate_bin, "install-hook", str(repo), *options, "--name", "models")
    assert installed.returncode == 0, installed.stderr
    assert "Traceback" not in installed.stderr
    assert all(path.stat().st_uid != 0 for path in left), "root's files replaced by the owner's"
    assert 'repository = "models"' in (repo / "gate.toml").read_text()

    hooks = repo / "hooks"
    os.chown(hooks, 0, 0)  # a folder of root's: the install would stop midway
    hook = (hooks / "pre-receive").read_text()
    config = (repo / "gate.toml").read_text()
    refused = _as_owner(gate_bin, "install-hook", str(repo), *options, "--name", "other")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert "nothing was installed" in refused.stderr
    assert f"{hooks} cannot be written by {OWNER}" in refused.stderr, refused.stderr
    assert (hooks / "pre-receive").read_text() == hook, "nothing was written"
    assert (repo / "gate.toml").read_text() == config
