"""Run the real `gate` command line against a test's database."""

from __future__ import annotations

from click.testing import CliRunner, Result

from gate.cli import cli


def run_gate(database_url: str, *args: str, input: str | None = None) -> Result:
    env = {"GATE_DATABASE_URL": database_url, "GATE_SECRET_KEY": "test-secret-key"}
    return CliRunner().invoke(cli, list(args), input=input, env=env, catch_exceptions=False)
