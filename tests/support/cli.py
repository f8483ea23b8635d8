"""Run the real `gate` command line against a test app's database and audit key."""

from __future__ import annotations

from click.testing import CliRunner, Result
from flask import Flask

from gate.cli import cli


def run_gate(app: Flask, *args: str, input: str | None = None) -> Result:
    env = {
        "GATE_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "GATE_SECRET_KEY": "test-secret-key",
        "GATE_AUDIT_KEY_DIR": app.config["GATE_AUDIT_KEY_DIR"],
    }
    return CliRunner().invoke(cli, list(args), input=input, env=env, catch_exceptions=False)
