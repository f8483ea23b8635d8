"""What gate needs of the repository it guards, with real pushes: SHA-1 object ids (a SHA-256
repository has agent changes to guarded paths refused with gate's own message, nothing sent to
the server) and git checking pushed objects (install-hook turns it on, gate doctor names it
off)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gate.git.doctor import doctor
from gate.git.install import install_hook
from tests.support.gitrepo import CLAUDE_TRAILER, HUMAN, WorkClone, remote_ref
from tests.support.server import POLICY, GatedRepo, LiveServer, make_gated_repo, new_token

pytestmark = pytest.mark.e2e


def sha256_clone(gated: GatedRepo, tmp: Path) -> WorkClone:
    """A clone of the SHA-256 repository once a human seeded it (an empty repository's clone
    would be SHA-1: git 2.39 does not carry the format over)."""
    seed = tmp / "seed"
    subprocess.run(
        ["git", "init", "-q", "--object-format=sha256", "-b", "main", str(seed)], check=True
    )
    (seed / "README.md").write_text("hello\n")
    (seed / "train").mkdir()
    (seed / "train" / "loop.py").write_text("steps = 1\n")
    identity = ["-c", f"user.name={HUMAN[0]}", "-c", f"user.email={HUMAN[1]}"]
    for args in (["add", "-A"], [*identity, "commit", "-qm", "seed"]):
        subprocess.run(["git", *args], cwd=seed, check=True)
    pushed = subprocess.run(
        ["git", "push", "-q", str(gated.bare), "main"], cwd=seed, capture_output=True, text=True
    )
    assert pushed.returncode == 0, pushed.stderr
    return WorkClone(gated.bare, tmp / "work")


def request_count(server: LiveServer) -> int:
    from gate.server.extensions import db
    from gate.server.models import ApprovalRequest

    with server.app.app_context():
        return db.session.scalar(select(func.count()).select_from(ApprovalRequest)) or 0


def test_a_sha256_repository_refuses_agent_changes_to_guarded_paths_saying_why(
    server: LiveServer, tmp_path: Path
) -> None:
    gated = make_gated_repo(
        tmp_path / "git", server.url, new_token(server.app), object_format="sha256"
    )
    clone = sha256_clone(gated, tmp_path)
    base = remote_ref(gated.bare)
    assert base is not None and len(base) == 64

    human = clone.commit("human tweak", {"train/loop.py": "steps = 2\n"})
    assert clone.push().ok, "a human's change to a guarded path is not affected"
    assert remote_ref(gated.bare) == human

    agent = clone.commit("agent tweak", {"train/loop.py": "steps = 3\n"}, trailers=[CLAUDE_TRAILER])
    result = clone.push()
    assert not result.ok and remote_ref(gated.bare) == human
    text = "\n".join(result.gate_lines)
    assert "Traceback" not in result.stderr and "internal error" not in text, result.stderr
    assert (
        "gate: push refused: this repository uses SHA-256 object ids, and gate supports SHA-1 "
        "repositories only: it cannot show a reviewer what these commits change." in text
    ), text
    assert agent[:12] in text and "guard: training (train/loop.py)" in text, text
    assert "Ask your gate admin" in text and "Try again later" not in text, text
    assert "gate: gate:" not in text and ".." not in text, text
    assert request_count(server) == 0, "nothing reached the server"

    # An agent's change outside every guard still passes.
    clone.run("reset", "-q", "--hard", human)
    docs = clone.commit("agent docs", {"README.md": "more\n"}, trailers=[CLAUDE_TRAILER])
    assert clone.push().ok and remote_ref(gated.bare) == docs

    problems = doctor(str(gated.bare))
    assert any("uses sha256 object ids" in p and "SHA-1 repositories only" in p for p in problems)


def test_install_hook_warns_about_a_sha256_repository(server: LiveServer, tmp_path: Path) -> None:
    bare = tmp_path / "r.git"
    subprocess.run(["git", "init", "-q", "--bare", "--object-format=sha256", str(bare)], check=True)
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    token = tmp_path / "token"
    token.write_text(new_token(server.app) + "\n")
    done = install_hook(str(bare), server.url, str(token), str(policy))
    assert any(
        line.startswith("warning: ") and "uses sha256 object ids" in line for line in done
    ), done


def test_install_hook_turns_on_fsck_and_doctor_names_it_off(gated: GatedRepo) -> None:
    def config(key: str) -> str:
        return subprocess.run(
            ["git", "--git-dir", str(gated.bare), "config", "--get", key],
            capture_output=True,
            text=True,
        ).stdout.strip()

    assert config("receive.fsckObjects") == "true" and config("transfer.fsckObjects") == "true"
    assert doctor(str(gated.bare)) == []
    for key in ("receive.fsckObjects", "transfer.fsckObjects"):
        subprocess.run(["git", "--git-dir", str(gated.bare), "config", key, "false"], check=True)
    (problem,) = doctor(str(gated.bare))
    assert "receive.fsckObjects is off" in problem and "git config" in problem, problem
