"""install-hook's checks before it writes, gate doctor on what is installed, the hook's time
budget and the pusher policy (issue 12 points 5 and 7, the parts that need no real sshd)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from gate.errors import GateError
from gate.git.doctor import doctor, usable_by
from gate.git.install import install_hook
from tests.support.cli import GATE
from tests.support.gitrepo import WorkClone, remote_ref
from tests.support.hosts import bare_repo
from tests.support.server import POLICY, GatedRepo, LiveServer, new_token

NOBODY = 65534


def _install(
    tmp_path: Path, server: LiveServer, bare: Path | None = None, **options: object
) -> tuple[Path, Path]:
    bare = bare or bare_repo(tmp_path / "r.git")
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    token = tmp_path / "token"
    token.write_text(new_token(server.app) + "\n")
    install_hook(str(bare), server.url, str(token), str(policy), **options)  # type: ignore[arg-type]
    return bare, token


def test_require_pusher_refuses_protected_pushes_naming_the_variables(
    tmp_path: Path, server: LiveServer
) -> None:
    bare, _ = _install(tmp_path, server, require_pusher=True)
    clone = WorkClone(bare, tmp_path / "w")
    clone.commit("docs", {"README.md": "x\n"})
    refused = clone.push()
    assert not refused.ok and remote_ref(bare) is None
    assert any(
        "requires an authenticated pusher" in line and "REMOTE_USER" in line
        for line in refused.gate_lines
    ), refused.stderr
    assert clone.push("HEAD:refs/heads/feature").ok  # not a protected ref
    assert clone.push(pusher="dana").ok


def test_unknown_pusher_agent_holds_human_looking_commits_with_no_pusher(
    tmp_path: Path, server: LiveServer
) -> None:
    bare, _ = _install(tmp_path, server, unknown_pusher="agent")
    clone = WorkClone(bare, tmp_path / "w")
    clone.commit("seed", {"README.md": "x\n"})
    assert clone.push().ok  # no guarded path: nothing to hold
    for attempt in ("1\n", "2\n"):  # the first push compiles the settings, the second reads them
        clone.commit("looks human", {"train/loop.py": attempt})
        held = clone.push()
        assert not held.ok and "waiting for approval" in held.stderr, held.stderr
        assert "unknown_pusher" in held.stderr
        clone.run("reset", "--hard", "HEAD~1")
    clone.commit("human", {"train/loop.py": "3\n"})
    assert clone.push(pusher="dana").ok  # an authenticated human pushes it


def test_doctor_is_healthy_then_names_pushes_without_a_pusher(gated: GatedRepo) -> None:
    assert doctor(str(gated.bare)) == []
    clone = gated.clone()
    clone.commit("docs", {"README.md": "x\n"})
    assert clone.push().ok  # nobody authenticated it
    log = gated.bare / "gate-spool" / "no-pusher.log"
    for _ in range(300):  # the post-receive worker notes it in the background
        if log.exists():
            break
        time.sleep(0.1)
    problems = doctor(str(gated.bare))
    assert len(problems) == 1 and "no authenticated pusher" in problems[0], problems
    assert "require_pusher" in problems[0]


def test_doctor_sees_a_missing_or_foreign_hook_and_exits_1(gated: GatedRepo) -> None:
    hook = gated.bare / "hooks" / "pre-receive"
    hook.write_text(hook.read_text().replace("gate-managed-hook", "gate-managed-hook (edited)"))
    problems = doctor(str(gated.bare))
    assert any("another version or copy of gate" in p for p in problems), problems
    hook.unlink()
    cli = subprocess.run([GATE, "doctor", str(gated.bare)], capture_output=True, text=True)
    assert cli.returncode == 1 and "gate's hook is not installed" in cli.stderr
    assert "Traceback" not in cli.stderr


def test_budget_covers_the_chained_hook_and_refuses_with_gates_message(
    tmp_path: Path, server: LiveServer
) -> None:
    bare = bare_repo(tmp_path / "r.git")
    pid_file = tmp_path / "chained.pid"
    slow = bare / "hooks" / "pre-receive"
    slow.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 120\n")
    slow.chmod(0o755)
    _install(tmp_path, server, bare, budget=2)
    clone = WorkClone(bare, tmp_path / "w")
    clone.commit("docs", {"README.md": "x\n"})
    refused = clone.push(pusher="dana")
    assert not refused.ok and remote_ref(bare) is None
    assert any("within its time budget of 2 seconds" in line for line in refused.gate_lines)
    pid = int(pid_file.read_text())
    for _ in range(50):  # killed by the hook as it gave up (reaped by init soon after)
        if not Path(f"/proc/{pid}").exists() or " Z " in Path(f"/proc/{pid}/stat").read_text():
            break
        time.sleep(0.1)
    else:
        pytest.fail("the chained hook was left running")


def test_install_refuses_for_another_owner_and_writes_nothing(
    tmp_path: Path, server: LiveServer
) -> None:
    bare = bare_repo(tmp_path / "r.git")
    subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(bare)], check=True)
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    token = tmp_path / "token"
    token.write_text("gate_x\n")
    with pytest.raises(GateError) as refused:
        install_hook(str(bare), server.url, str(token), str(policy))
    assert "belongs to nobody" in str(refused.value)
    assert "run gate install-hook as nobody" in str(refused.value)
    assert not (bare / "hooks" / "pre-receive").exists() and not (bare / "gate.toml").exists()


def test_install_refuses_a_token_the_server_refuses_but_not_a_server_that_is_down(
    tmp_path: Path, server: LiveServer
) -> None:
    bare = bare_repo(tmp_path / "r.git")
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    token = tmp_path / "token"
    token.write_text("gate_" + "x" * 43 + "\n")
    with pytest.raises(GateError) as refused:
        install_hook(str(bare), server.url, str(token), str(policy), check_server=True)
    assert "refuses the hook token" in str(refused.value)
    assert not (bare / "hooks" / "pre-receive").exists()
    down = install_hook(str(bare), "http://127.0.0.1:9", str(token), str(policy), check_server=True)
    assert any(line.startswith("warning:") and "does not answer" in line for line in down)
    assert (bare / "hooks" / "pre-receive").exists()


def test_reachability_is_judged_for_the_user_who_runs_the_hook(tmp_path: Path) -> None:
    import tempfile

    open_dir = Path(tempfile.mkdtemp(dir="/tmp"))  # pytest's own folder is private to root
    open_dir.chmod(0o755)
    private = open_dir / "private"
    (private / "bin").mkdir(parents=True)
    python = private / "bin" / "python"
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    link = open_dir / "venv-python"
    link.symlink_to(python)
    os.chown(private, 0, 0)
    private.chmod(0o700)
    blocked = usable_by(str(link), NOBODY, 1)
    assert blocked == f"{private} cannot be entered by nobody"
    private.chmod(0o755)
    assert usable_by(str(link), NOBODY, 1) is None
    python.chmod(0o644)
    assert usable_by(str(link), NOBODY, 1) == f"{python} cannot be run by nobody"
    import shutil

    shutil.rmtree(open_dir)


def test_doctor_report_reaches_the_server_as_a_heartbeat(
    gated: GatedRepo, server: LiveServer
) -> None:
    """`gate doctor --report` (from cron) sends what it found: healthy now, then a problem the
    server keeps and alerts on."""
    from sqlalchemy import select

    from gate.git.config import load_hook_config
    from gate.server.extensions import db
    from gate.server.models import Repository, RepositoryHeartbeat

    name = load_hook_config(gated.bare).repository

    def reported() -> tuple[str | None, list[str]]:
        with server.app.app_context():
            row = db.session.scalar(
                select(RepositoryHeartbeat)
                .join(Repository, Repository.id == RepositoryHeartbeat.repository_id)
                .where(Repository.name == name)
            )
            db.session.remove()
            return (row.source, list(row.problems)) if row else (None, [])

    from click.testing import CliRunner

    from gate.cli.main import cli

    # In process: the hook was written by this process's gate, which doctor compares with.
    run = ["doctor", str(gated.bare), "--report"]
    healthy = CliRunner().invoke(cli, run)
    assert healthy.exit_code == 0, healthy.output
    assert reported() == ("doctor", [])
    from gate.git.checkpoints import CHECKPOINT_DIR

    assert list((gated.bare / CHECKPOINT_DIR).glob("*.note")), "the answer's checkpoint is kept"
    (gated.bare / "hooks" / "pre-receive").unlink()  # as a host's hook rewrite would
    broken = CliRunner().invoke(cli, run)
    assert broken.exit_code == 1
    source, problems = reported()
    assert source == "doctor" and problems and any("pre-receive" in p for p in problems), problems


def test_doctor_names_each_broken_part_with_its_fix(gated: GatedRepo, server: LiveServer) -> None:
    """Each part doctor checks, broken in turn on a real installed repository: a policy the
    hook cannot use, a token that is not a hook token, a server that does not answer, a gate
    hook and a chained hook that cannot run."""
    from tests.support.server import agent_token

    assert doctor(str(gated.bare)) == []
    hooks = gated.bare / "hooks"
    policy = gated.policy.read_text()
    gated.policy.write_text("protected_refs = [\n")
    gated.token_file.write_text(agent_token(server.app, "agent-trainer") + "\n")
    (hooks / "post-receive").chmod(0o644)
    chained = hooks / "pre-receive.gate-chained"
    chained.write_text("#!/bin/sh\nexit 0\n")
    chained.chmod(0o644)
    problems = doctor(str(gated.bare))
    expected = [
        "the policy cannot be used",
        "is not a hook token; fix: store a hook token there",
        f"{hooks / 'post-receive'} is not executable; fix: chmod +x",
        f"{chained} is not executable, so every push is refused",
    ]
    for text in expected:
        assert sum(text in p for p in problems) == 1, (text, problems)
    assert len(problems) == len(expected), problems

    gated.policy.write_text(policy)
    gated.token_file.write_text(new_token(server.app) + "\n")
    (hooks / "post-receive").chmod(0o755)
    chained.write_text("#!/nonexistent/sh\nexit 0\n")
    chained.chmod(0o755)
    config = gated.bare / "gate.toml"
    config.write_text(config.read_text().replace(server.url, "http://127.0.0.1:9"))
    problems = doctor(str(gated.bare))
    assert len(problems) == 2, problems
    assert f"{chained} runs /nonexistent/sh, which is not there" in problems
    assert any("the gate server at http://127.0.0.1:9 does not answer" in p for p in problems)
    cli = subprocess.run([GATE, "doctor", str(gated.bare)], capture_output=True, text=True)
    assert cli.returncode == 1 and "Traceback" not in cli.stderr
