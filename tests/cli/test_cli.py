"""The gate command line, run as a real process: exit codes, messages, no tracebacks."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support.gitrepo import CLAUDE_TRAILER, WorkClone, git
from tests.support.reviewer import ReviewerSession
from tests.support.server import POLICY

GATE = str(Path(sys.executable).parent / "gate")


def gate(
    *args: str, env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GATE, *args], capture_output=True, text=True, env=env, input=input, timeout=120
    )


@pytest.fixture
def server_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    env = {
        **os.environ,
        "GATE_DATABASE_URL": database_url,
        "GATE_SECRET_KEY": "k" * 32,
        "GATE_HOME": str(tmp_path / "home"),
    }
    assert gate("db", "upgrade", env=env).returncode == 0
    return env


def test_policy_check_good_and_bad(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(POLICY)
    result = gate("policy", "check", str(good))
    assert result.returncode == 0 and "training" in result.stdout and "model" in result.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'protected_refs = ["main"]\n\n[[guard]]\nname = "t"\npaths = ["train/**"]\napprovals = 0\n'
    )
    result = gate("policy", "check", str(bad))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{bad}:1:" in result.stderr and f"{bad}:6:" in result.stderr
    missing = gate("policy", "check", str(tmp_path / "nope.toml"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr


def test_user_add_and_token_create(server_env: dict[str, str]) -> None:
    added = gate(
        "user",
        "add",
        "rita",
        "--name",
        "Rita Reviewer",
        "--email",
        "rita@example.com",
        "--password-stdin",
        env=server_env,
        input="a long enough password\n",
    )
    assert added.returncode == 0, added.stderr
    again = gate(
        "user",
        "add",
        "rita",
        "--name",
        "R",
        "--email",
        "r2@example.com",
        "--password-stdin",
        env=server_env,
        input="a long enough password\n",
    )
    assert (
        again.returncode == 1
        and "already exists" in again.stderr
        and "Traceback" not in again.stderr
    )
    short = gate(
        "user",
        "add",
        "sam",
        "--name",
        "Sam",
        "--email",
        "sam@example.com",
        "--password-stdin",
        env=server_env,
        input="short\n",
    )
    assert short.returncode == 1 and "at least" in short.stderr
    token = gate("token", "create", "--host", "git1", "--repo", "models", env=server_env)
    assert token.returncode == 0 and token.stdout.strip().splitlines()[-1].startswith("gate_")


def test_server_refuses_to_start_without_secret_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GATE_SECRET_KEY"}
    env["GATE_DATABASE_URL"] = f"sqlite:///{tmp_path / 'x.db'}"
    result = gate("db", "upgrade", env=env)
    assert (
        result.returncode == 1
        and "GATE_SECRET_KEY" in result.stderr
        and "Traceback" not in result.stderr
    )


def test_install_hook_errors_are_clear(tmp_path: Path) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text(POLICY)
    token = tmp_path / "t"
    token.write_text("gate_x\n")
    not_repo = gate(
        "install-hook",
        str(tmp_path),
        "--server",
        "http://x",
        "--token-file",
        str(token),
        "--policy",
        str(policy),
    )
    assert not_repo.returncode == 1 and "not a git repository" in not_repo.stderr
    bare = tmp_path / "r.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    bad_policy = tmp_path / "bad.toml"
    bad_policy.write_text("protected_refs = [")
    result = gate(
        "install-hook",
        str(bare),
        "--server",
        "http://x",
        "--token-file",
        str(token),
        "--policy",
        str(bad_policy),
    )
    assert result.returncode == 1 and "bad.toml:1" in result.stderr
    no_token = gate(
        "install-hook",
        str(bare),
        "--server",
        "http://x",
        "--token-file",
        str(tmp_path / "none"),
        "--policy",
        str(policy),
    )
    assert no_token.returncode == 1 and "token file" in no_token.stderr
    assert not (bare / "hooks" / "pre-receive").exists()


def test_check_is_a_dry_run(tmp_path: Path) -> None:
    bare = tmp_path / "r.git"
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(bare)], check=True)
    clone = WorkClone(bare, tmp_path / "w")
    base = clone.commit("seed", {"README.md": "x\n"})
    clone.push()
    agent = clone.commit("agent", {"train/a.py": "1\n"}, trailers=[CLAUDE_TRAILER])
    clone.push("HEAD:refs/heads/feature")
    policy = tmp_path / "p.toml"
    policy.write_text(POLICY)
    result = gate("check", str(bare), base, agent, "refs/heads/main", "--policy", str(policy))
    assert result.returncode == 1
    assert (
        f"HOLD {agent}" in result.stdout
        and "guard training: train/a.py" in result.stdout
        and "Claude Code" in result.stdout
    )
    human = gate("check", str(bare), base, agent, "refs/heads/scratch", "--policy", str(policy))
    assert human.returncode == 0 and "not a protected ref" in human.stdout
    bad = gate("check", str(bare), base, "no-such-rev", "refs/heads/main", "--policy", str(policy))
    assert bad.returncode == 1 and "Traceback" not in bad.stderr


def test_check_history_judges_commits_already_on_a_protected_ref(tmp_path: Path) -> None:
    bare = tmp_path / "r.git"
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(bare)], check=True)
    clone = WorkClone(bare, tmp_path / "w")
    base = clone.commit("seed", {"README.md": "x\n"})
    agent = clone.commit("agent", {"train/a.py": "1\n"}, trailers=[CLAUDE_TRAILER])
    clone.push()  # both on main now, as history is
    policy = tmp_path / "p.toml"
    policy.write_text(POLICY)
    args = (str(bare), base, "main", "refs/heads/main", "--policy", str(policy))
    plain = gate("check", *args)
    assert plain.returncode == 0 and "0 new commit(s) inspected" in plain.stdout
    assert "--history judges them" in plain.stdout
    history = gate("check", *args, "--history")
    assert history.returncode == 1, history.stderr
    assert "1 new commit(s) inspected" in history.stdout and f"HOLD {agent}" in history.stdout
    everything = gate(
        "check",
        str(bare),
        "0" * 40,
        "main",
        "refs/heads/main",
        "--policy",
        str(policy),
        "--history",
    )
    assert everything.returncode == 1 and "2 new commit(s) inspected" in everything.stdout
    refs = subprocess.run(["git", "-C", str(bare), "for-each-ref"], capture_output=True, text=True)
    assert refs.stdout.split() == [agent, "commit", "refs/heads/main"], (
        "the repository is unchanged"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_demo_walkthrough(tmp_path: Path) -> None:
    """A newcomer runs `gate demo`, follows its printed commands, and sees the push held then pass."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATE_")}
    env["HOME"] = str(tmp_path)
    demo = subprocess.Popen(
        [GATE, "demo", "--dir", str(tmp_path / "demo"), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        lines: list[str] = []
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.append(line)
            if "Then log in" in line or len(lines) > 60:
                break
        output = "".join(lines)
        password = re.search(r"reviewer:\s+alice / (\S+)", output)
        assert password, output
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                requests.get(f"{base}/login", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        clone = WorkClone(tmp_path / "demo" / "demo.git", tmp_path / "work")
        clone.commit("docs", {"README.md": "# readme\n"})
        assert clone.push().ok
        sha = clone.commit(
            "Tune learning rate", {"train/config.py": "lr = 3e-4\n"}, trailers=[CLAUDE_TRAILER]
        )
        held = clone.push()
        assert not held.ok and f"{base}/requests/1" in held.stderr
        reviewer = ReviewerSession(base)
        reviewer.login("alice", password.group(1))
        assert reviewer.decide(1, "approve", "fine", password=password.group(1), attest="yes").ok
        assert clone.push().ok
        assert git(clone.path, "ls-remote", "origin", "refs/heads/main").split()[0] == sha
    finally:
        demo.terminate()
        demo.wait(10)
        if demo.stdout is not None:
            demo.stdout.close()


def test_gate_wait_help_lists_every_exit_code() -> None:
    """The codes an agent's script branches on, each with its meaning; the same numbers
    tests/e2e/test_wait_and_security.py::test_gate_wait_exit_codes sees `gate wait` return."""
    from gate.cli.wait import APPROVED, CANNOT_WAIT, DENIED, TIMED_OUT, UNREACHABLE

    shown = gate("wait", "--help")
    assert shown.returncode == 0, shown.stderr
    section = shown.stdout.split("Exit codes:", 1)
    assert len(section) == 2, shown.stdout
    codes: dict[int, str] = {}
    for line in section[1].splitlines():
        if match := re.match(r"\s+(\d)\s{2,}(\S.*)", line):
            codes[int(match.group(1))] = match.group(2)
        elif codes and line.strip() and line.startswith(" " * 5):  # a meaning's next line
            codes[max(codes)] += " " + line.strip()
        elif codes:
            break
    meanings = {
        APPROVED: ["approved"],
        DENIED: ["denied", "superseded"],
        TIMED_OUT: ["timed out", "still undecided"],
        CANNOT_WAIT: ["cannot wait", "token", "no such request"],
        UNREACHABLE: ["without learning", "out of reach"],
    }
    assert sorted(codes) == [0, 1, 2, 3, 4] == sorted(meanings), shown.stdout
    for code, words in meanings.items():
        assert all(word in codes[code] for word in words), (code, codes[code])
