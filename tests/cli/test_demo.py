"""`gate demo` and `gate serve` ports, and the demo across the README's two install commands:
`pip install .` then `gate demo`, then `pip install -e '.[test]'` in the same virtual environment."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.gitrepo import CLAUDE_TRAILER, WorkClone

ROOT = Path(__file__).resolve().parent.parent.parent
GATE = str(Path(sys.executable).parent / "gate")


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATE_") and k != "PYTHONPATH"}
    env["HOME"] = str(home)
    return env


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_demo_refuses_a_busy_port_before_it_prepares_anything(
    tmp_path: Path, busy_port: int
) -> None:
    home = tmp_path / "demo"
    proc = subprocess.run(
        [GATE, "demo", "--dir", str(home), "--port", str(busy_port)],
        capture_output=True,
        text=True,
        env=_clean_env(tmp_path),
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""  # no instructions
    assert proc.stderr == (
        f"gate: port {busy_port} on 127.0.0.1 is already in use: stop what uses it, or choose "
        "another port with --port\n"
    )
    assert not home.exists()  # no database, no repository, no hook


@pytest.mark.parametrize("command", ["serve", "demo"])
@pytest.mark.parametrize("port", ["0", "65536", "99999"])
def test_a_port_outside_1_to_65535_is_refused(tmp_path: Path, command: str, port: str) -> None:
    proc = subprocess.run(
        [GATE, command, "--port", port],
        capture_output=True,
        text=True,
        env=_clean_env(tmp_path),
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2
    assert f"{port} is not in the range 1<=x<=65535" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


def _pip(venv: Path, *args: str) -> None:
    # --no-deps: gate's dependencies come from the test environment (see below), not a download.
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", *args],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


def _start_demo(venv: Path, home: Path, port: int, env: dict[str, str]) -> subprocess.Popen[str]:
    demo = subprocess.Popen(
        [str(venv / "bin" / "gate"), "demo", "--dir", str(home), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert demo.stdout is not None
    lines = []
    for line in demo.stdout:
        lines.append(line)
        if "Then log in" in line or len(lines) > 60:
            break
    assert any("Then log in" in line for line in lines), "".join(lines)
    for _ in range(200):
        try:
            requests.get(f"http://127.0.0.1:{port}/login", timeout=1)
            return demo
        except requests.ConnectionError:
            time.sleep(0.1)
    demo.terminate()
    raise AssertionError("the demo server did not start")


def test_demo_keeps_working_after_switching_to_an_editable_install(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = Path(
        subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # The test environment's packages, listed after the venv's own (a .pth in them is not read:
    # the test environment's editable gate stays out).
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "zz_test_dependencies.pth").write_text("".join(f"{p}\n" for p in sorted(ours)))
    env = _clean_env(tmp_path)
    home, port = tmp_path / "demo", _free_port()

    _pip(venv, str(ROOT))  # README command 1: pip install . ...
    subprocess.run(
        [str(venv / "bin" / "gate"), "demo", "--dir", str(home), "--port", str(port), "--no-serve"],
        check=True,
        capture_output=True,
        env=env,
    )
    hook = home / "demo.git" / "hooks" / "pre-receive"
    assert str(site) in hook.read_text()
    clone = WorkClone(home / "demo.git", tmp_path / "work")
    clone.commit("docs", {"README.md": "# readme\n"})
    assert clone.push().ok

    _pip(venv, "-e", str(ROOT))  # README command 2: the wheel's copy of gate is removed
    clone.commit("more docs", {"README.md": "# readme, longer\n"})
    stale = clone.push()
    assert not stale.ok and "Traceback" not in stale.stderr, stale.stderr
    assert len(stale.gate_lines) == 1
    assert "gate is not installed where this hook expects it" in stale.gate_lines[0]

    demo = _start_demo(venv, home, port, env)  # starting the demo again installs its hook anew
    try:
        assert str(ROOT) in hook.read_text() and str(site) not in hook.read_text()
        assert clone.push().ok
        clone.commit("Tune", {"train/config.py": "lr = 3e-4\n"}, trailers=[CLAUDE_TRAILER])
        held = clone.push()  # the full path: the policy, pygit2, the demo's server
        assert not held.ok and "Traceback" not in held.stderr, held.stderr
        assert re.search(rf"http://127\.0\.0\.1:{port}/requests/\d+", held.stderr), held.stderr
    finally:
        demo.terminate()
        demo.wait(10)
        if demo.stdout is not None:
            demo.stdout.close()


def test_demo_prints_every_role_and_the_environment_for_the_cli(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    env = _clean_env(tmp_path)
    proc = subprocess.run(
        [GATE, "demo", "--no-serve", "--dir", str(home)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    for role, user in (
        ("reviewer", "alice"),
        ("reviewer", "bob"),
        ("admin", "root"),
        ("auditor", "audrey"),
    ):
        assert re.search(rf"^  {role}:\s+{user} / \S+$", proc.stdout, re.M), (role, user)
    (export,) = [
        line.strip() for line in proc.stdout.splitlines() if line.strip().startswith("export GATE_")
    ]
    listed = subprocess.run(
        ["bash", "-c", f"{export} && {GATE} user list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    roles = {line.split("\t")[0]: line.split("\t")[1] for line in listed.stdout.splitlines()}
    assert roles == {
        "alice": "reviewer",
        "bob": "reviewer",
        "root": "admin",
        "audrey": "auditor",
        "agent-demo": "agent",
    }
