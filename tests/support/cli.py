"""Run the real `gate` command, in its own process, against a test app's database and key."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from flask import Flask

GATE = str(Path(sys.executable).parent / "gate")


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def gate_env(**settings: str) -> dict[str, str]:
    """This process's environment without any GATE_* setting, then ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATE_")}
    env.update(settings)
    return env


def run_gate_env(
    env: dict[str, str], *args: str, input: str | None = None, cwd: Path | None = None
) -> Result:
    proc = subprocess.run(
        [GATE, *args],
        input=input or "",
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def run_gate(app: Flask, *args: str, input: str | None = None) -> Result:
    key_dir = app.config["GATE_AUDIT_KEY_DIR"]
    env = gate_env(
        GATE_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        GATE_SECRET_KEY="test-secret-key",
        GATE_AUDIT_KEY_DIR=key_dir,
        GATE_HOME=str(Path(key_dir).parent / "gate-home"),
    )
    return run_gate_env(env, *args, input=input)
