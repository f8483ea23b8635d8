"""gate works when installed from a built wheel into a fresh virtual environment."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.gitrepo import CLAUDE_TRAILER, WorkClone
from tests.support.server import POLICY

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    return next(out.glob("gate-*.whl"))


def test_wheel_carries_runtime_files(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "gate/templates/base.html",
        "gate/templates/review/detail.html",
        "gate/static/review.js",
        "gate/migrations/env.py",
        "gate/migrations/versions/0001_initial_schema.py",
        "gate/hooks/pre-receive",
        "gate/data/agents.toml",
        "gate/data/demo-policy.toml",
    ):
        assert needed in names, f"{needed} missing from the wheel"
    assert not any(name.startswith("tests/") for name in names)


def test_fresh_venv_from_wheel_runs_the_gate(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", str(wheel)], capture_output=True, text=True
    )
    assert pip.returncode == 0, pip.stderr
    gate = str(venv / "bin" / "gate")
    env = {
        **os.environ,
        "GATE_SECRET_KEY": "s" * 32,
        "GATE_DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}",
    }
    env.pop("PYTHONPATH", None)
    workdir = tmp_path / "elsewhere"  # not the source tree: nothing may come from the checkout
    workdir.mkdir()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([gate, *args], cwd=workdir, env=env, capture_output=True, text=True)

    assert run("db", "upgrade").returncode == 0
    policy = tmp_path / "p.toml"
    policy.write_text(POLICY)
    assert run("policy", "check", str(policy)).returncode == 0
    token = run("token", "create", "--host", "wheel", "--all-repos").stdout.strip().splitlines()[-1]
    (tmp_path / "token").write_text(token)
    bare = tmp_path / "r.git"
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(bare)], check=True)
    installed = run(
        "install-hook",
        str(bare),
        "--server",
        "http://127.0.0.1:9",
        "--token-file",
        str(tmp_path / "token"),
        "--policy",
        str(policy),
    )
    assert installed.returncode == 0, installed.stderr
    assert str(venv) in (bare / "hooks" / "pre-receive").read_text()
    clone = WorkClone(bare, tmp_path / "w")
    clone.commit("human", {"train/a.py": "1\n"})
    assert clone.push().ok
    clone.commit("agent", {"train/a.py": "2\n"}, trailers=[CLAUDE_TRAILER])
    refused = clone.push()
    assert not refused.ok and "cannot reach the gate server" in refused.stderr
