"""Every gate command, on a database without the schema, with a URL that is not one, and with a
database server that is down: one paragraph naming the fix and a non-zero exit, never a
traceback. The commands come from the Click tree, so a new command fails here until it is
listed, with the arguments that take it to where it would use the database."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from alembic.script import ScriptDirectory
from flask_migrate import upgrade
from sqlalchemy import create_engine, text

from gate.cli.main import cli
from gate.resources import resource_dir
from gate.server.app import create_app
from gate.server.extensions import db
from tests.support.cli import Result, gate_env, run_gate_env
from tests.support.server import PASSWORD, POLICY

PASSWORD_INPUT = f"{PASSWORD}\n{PASSWORD}\n"


@dataclass(frozen=True)
class Call:
    args: tuple[str, ...] = ()
    input: str | None = None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Commands that use the database, with arguments that take each one as far as it would use it.
# "{tmp}" is the test's own folder.
DATABASE_COMMANDS: dict[tuple[str, ...], Call] = {
    ("db", "upgrade"): Call(),
    ("demo",): Call(("--no-serve", "--dir", "{tmp}/demo")),
    ("serve",): Call(("--port", "{port}")),
    ("user", "add"): Call(
        ("rita", "--name", "Rita R", "--email", "rita@example.com", "--password-stdin"),
        PASSWORD_INPUT,
    ),
    ("user", "list"): Call(),
    ("user", "disable"): Call(("rita",)),
    ("user", "enable"): Call(("rita",)),
    ("user", "reset-password"): Call(("rita", "--password-stdin"), PASSWORD_INPUT),
    ("token", "create"): Call(("--host", "git.example.com", "--repo", "ml/*")),
    ("token", "list"): Call(),
    ("token", "revoke"): Call(("1", "--yes")),
    ("heartbeats", "check"): Call(),
    ("key", "add"): Call(("rita", "--ssh", "{tmp}/rita.pub")),
    ("key", "revoke"): Call(("SHA256:AAAA", "--from", "2026-12-01")),
    ("key", "list"): Call(),
    ("pause", "start"): Call(
        ("--by", "root", "--password-stdin", "--reason", "board review"), PASSWORD_INPUT
    ),
    ("pause", "stop"): Call(("--by", "root", "--password-stdin"), PASSWORD_INPUT),
    ("pause", "status"): Call(),
    ("report",): Call(("--since", "2026-01-01")),
    ("audit", "checkpoint"): Call(),
    ("audit", "export"): Call(("--out", "{tmp}/audit.zip")),
    ("audit", "rotate-key"): Call(),
    ("audit", "prune-diffs"): Call(),
}
# Commands that make the schema: on a database without one they succeed.
MAKE_SCHEMA = {("db", "upgrade"), ("demo",)}
# Commands that never open the database, each with a call doing its own work and its exit code.
OFFLINE_COMMANDS: dict[tuple[str, ...], tuple[Call, int]] = {
    ("policy", "check"): (Call(("{tmp}/policy.toml",)), 0),
    ("check",): (
        Call(
            (
                "{tmp}/repo.git",
                "0" * 40,
                "0" * 40,
                "refs/heads/scratch",
                "--policy",
                "{tmp}/policy.toml",
            )
        ),
        0,
    ),
    ("install-hook",): (
        Call(
            (
                "{tmp}/repo.git",
                "--server",
                "http://127.0.0.1:9",
                "--token-file",
                "{tmp}/token",
                "--policy",
                "{tmp}/policy.toml",
            )
        ),
        0,
    ),
    ("wait",): (
        Call(
            ("1", "--server", "http://127.0.0.1:9", "--token-file", "{tmp}/token", "--timeout", "0")
        ),
        4,
    ),
    ("audit", "verify"): (Call(("{tmp}/no-such-bundle.zip",)), 2),
    ("audit", "public-key"): (Call(), 1),  # no key yet: that is not the database's fault
    # git-host commands: no hook in this repository, which each says (exit 1)
    ("doctor",): (Call(("{tmp}/repo.git",)), 1),
    ("reconcile",): (Call(("{tmp}/repo.git",)), 1),
}

# How the database is broken, and what the one paragraph must name.
BROKEN = {
    "no schema": ("gate db upgrade",),
    "not a URL": ("GATE_DATABASE_URL", "is not a database URL"),
    "server down": ("cannot reach the database", "GATE_DATABASE_URL"),
}


def leaf_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from leaf_commands(command, (*prefix, name))
        else:
            yield (*prefix, name)


def test_every_command_is_listed_here() -> None:
    listed = DATABASE_COMMANDS.keys() | OFFLINE_COMMANDS.keys()
    assert set(leaf_commands(cli)) == listed


@pytest.fixture
def broken_env(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> dict[str, str]:
    urls = {
        "no schema": database_url,  # a fresh, empty database
        "not a URL": "notaurl",
        "server down": "postgresql+psycopg://gate@127.0.0.1:1/gate",  # nothing listens on port 1
    }
    return gate_env(
        GATE_DATABASE_URL=urls[request.param],
        GATE_SECRET_KEY="s" * 32,
        GATE_HOME=str(tmp_path / "home"),
        GATE_AUDIT_KEY_DIR=str(tmp_path / "keys"),
    )


def _run(env: dict[str, str], command: tuple[str, ...], call: Call, tmp_path: Path) -> Result:
    fill = {"tmp": str(tmp_path), "port": str(_free_port())}
    args = [arg.format(**fill) for arg in call.args]
    return run_gate_env(env, *command, *args, input=call.input)


@pytest.mark.parametrize("broken_env", list(BROKEN), indirect=True)
@pytest.mark.parametrize("command", list(DATABASE_COMMANDS), ids=" ".join)
def test_database_commands_say_what_to_fix(
    broken_env: dict[str, str],
    command: tuple[str, ...],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    broken = request.node.callspec.params["broken_env"]
    result = _run(broken_env, command, DATABASE_COMMANDS[command], tmp_path)
    assert "Traceback" not in result.output
    if broken == "no schema" and command in MAKE_SCHEMA:
        assert result.exit_code == 0, result.output
        assert run_gate_env(broken_env, "pause", "status").exit_code == 0  # the schema is there
        return
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    (paragraph,) = result.stderr.splitlines()
    assert paragraph.startswith("gate: ")
    for needed in BROKEN[broken]:
        assert needed in paragraph
    sqlite_file = broken_env["GATE_DATABASE_URL"].removeprefix("sqlite:///")
    if broken == "no schema" and sqlite_file != broken_env["GATE_DATABASE_URL"]:
        assert not Path(sqlite_file).exists(), "looking at a missing database created it"


@pytest.mark.parametrize("broken_env", list(BROKEN), indirect=True)
@pytest.mark.parametrize("command", list(OFFLINE_COMMANDS), ids=" ".join)
def test_offline_commands_do_not_need_the_database(
    broken_env: dict[str, str], command: tuple[str, ...], tmp_path: Path
) -> None:
    (tmp_path / "policy.toml").write_text(POLICY)
    (tmp_path / "token").write_text("gate_not_a_real_token\n")
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "repo.git")], check=True)
    call, code = OFFLINE_COMMANDS[command]
    result = _run(broken_env, command, call, tmp_path)
    assert "Traceback" not in result.output
    assert result.exit_code == code, result.output
    assert "database" not in result.output.lower()


def _env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return gate_env(
        GATE_DATABASE_URL=database_url,
        GATE_SECRET_KEY="s" * 32,
        GATE_HOME=str(tmp_path / "home"),
        GATE_AUDIT_KEY_DIR=str(tmp_path / "keys"),
    )


def test_db_upgrade_says_what_it_did(database_url: str, tmp_path: Path) -> None:
    scripts = ScriptDirectory(str(resource_dir("migrations")))
    head = scripts.get_current_head()
    assert head is not None
    previous = scripts.get_revision(head).down_revision
    assert isinstance(previous, str)
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "s" * 32})
    with app.app_context():
        upgrade(directory=str(resource_dir("migrations")), revision=previous)
        db.engine.dispose()  # nothing of this process may hold the database the test drops
    env = _env(database_url, tmp_path)

    behind = run_gate_env(env, "pause", "status")
    assert behind.exit_code == 1
    assert f"at schema revision {previous}, and this gate needs {head}: run `gate db upgrade`" in (
        behind.stderr
    )
    upgraded = run_gate_env(env, "db", "upgrade")
    assert upgraded.exit_code == 0
    assert f"upgraded the schema from revision {previous} to {head}" in upgraded.stdout
    again = run_gate_env(env, "db", "upgrade")
    assert f"the schema is already at revision {head}" in again.stdout
    assert run_gate_env(env, "pause", "status").stdout == "gate: no pause is in force\n"

    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    for args in (("pause", "status"), ("db", "upgrade")):
        newer = run_gate_env(env, *args)
        assert newer.exit_code == 1 and "Traceback" not in newer.stderr
        assert "at schema revision 9999, which gate" in newer.stderr
        assert "a newer gate upgraded it" in newer.stderr


def test_the_web_app_answers_503_until_the_schema_is_there(
    database_url: str, tmp_path: Path
) -> None:
    """Under gunicorn nothing runs `gate serve`'s check: the app itself refuses to serve."""
    from gate.server.database import upgrade_database

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "s" * 32,
            "GATE_AUDIT_KEY_DIR": str(tmp_path / "keys"),
        }
    )
    client = app.test_client()
    page = client.get("/requests")
    assert page.status_code == 503
    assert "has no gate schema: run `gate db upgrade` to create it" in page.get_data(as_text=True)
    api = client.get("/api/v1/requests/1", headers={"Authorization": "Bearer gate_x"})
    assert api.status_code == 503
    assert api.get_json()["error"]["code"] == "database_unavailable"
    upgrade_database(app)
    assert client.get("/requests").status_code == 302  # to the login page: it serves now
    with app.app_context():
        db.engine.dispose()
