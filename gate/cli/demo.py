"""gate demo: a newcomer's playground on localhost, with everything in one folder."""

from __future__ import annotations

import errno
import os
import secrets
import shlex
import socket
import subprocess
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from gate.errors import GateError
from gate.git.install import install_hook

DEMO_AGENT = "agent-demo"  # the demo's pushes name it as REMOTE_USER, as an SSH host would
ACCOUNTS = (  # username, name, email, role
    ("alice", "Alice Reviewer", "alice@example.com", "reviewer"),
    ("bob", "Bob Reviewer", "bob@example.com", "reviewer"),
    ("root", "Rory Admin", "root@example.com", "admin"),
    ("audrey", "Audrey Auditor", "audrey@example.com", "auditor"),
)


@dataclass
class Demo:
    home: Path
    server: str
    repo: Path
    passwords: dict[str, str]
    token_file: Path
    agent_token_file: Path
    exports: list[str]  # shell assignments the gate command needs to work on the demo's server


def check_port_free(host: str, port: int) -> None:
    """Raise GateError when the demo's server could not listen on host:port, so that the demo
    refuses before it prints instructions or points the hook at a server that never starts."""
    from werkzeug.serving import get_sockaddr, select_address_family

    family = select_address_family(host, port)  # the address the server will bind, found alike
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server's socket
            probe.bind(get_sockaddr(host, port, family))
    except socket.gaierror as exc:
        raise GateError(f"cannot serve the demo on {host!r}: {exc.strerror}") from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise GateError(
                f"port {port} on {host} is already in use: stop what uses it, or choose another "
                "port with --port"
            ) from None
        raise GateError(f"cannot serve the demo on {host} port {port}: {exc.strerror}") from None


def prepare_demo(home: Path, host: str, port: int) -> Demo:
    """Create (or reuse) the demo's database, reviewers, token, bare repository and hook."""
    from gate.server.app import create_app
    from gate.server.database import command, upgrade_database
    from gate.server.extensions import db
    from gate.server.models import User
    from gate.server.services.accounts import (
        add_agent,
        add_user,
        create_agent_token,
        create_hook_token,
    )
    from gate.server.services.actor import Actor

    home.mkdir(parents=True, exist_ok=True)
    secret_file = home / "secret_key"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_hex(32))
        secret_file.chmod(0o600)
    os.environ["GATE_HOME"] = str(home)
    os.environ.setdefault("GATE_SECRET_KEY", secret_file.read_text().strip())
    os.environ.setdefault("GATE_DATABASE_URL", f"sqlite:///{home / 'gate.db'}")
    app = create_app()
    upgrade_database(app)
    passwords: dict[str, str] = {}
    password_file = home / "demo-passwords.txt"  # demo only: real deployments never store these
    if password_file.exists():
        for line in password_file.read_text().splitlines():
            user, _, password = line.partition(" ")
            passwords[user] = password
    token_file = home / "hook-token"
    agent_token_file = home / "agent-token"
    with command(app):
        for username, name, email, role in ACCOUNTS:
            if db.session.query(User).filter_by(username=username).first() is None:
                passwords[username] = secrets.token_urlsafe(12)
                add_user(username, name, email, passwords[username], role, actor=Actor.cli())
        if db.session.query(User).filter_by(username=DEMO_AGENT).first() is None:
            add_agent(DEMO_AGENT, ACCOUNTS[0][0], actor=Actor.cli())
        if not token_file.exists():
            _, secret = create_hook_token("demo-host", ["demo"], actor=Actor.cli())
            token_file.write_text(secret + "\n")
            token_file.chmod(0o600)
        if not agent_token_file.exists():
            _, secret = create_agent_token(DEMO_AGENT, actor=Actor.cli())
            agent_token_file.write_text(secret + "\n")
            agent_token_file.chmod(0o600)
    password_file.write_text("".join(f"{u} {p}\n" for u, p in passwords.items()))
    password_file.chmod(0o600)
    policy = home / "policy.toml"
    if not policy.exists():
        policy.write_text((files("gate") / "data" / "demo-policy.toml").read_text(encoding="utf-8"))
    repo = home / "demo.git"
    if not repo.exists():
        subprocess.run(
            ["git", "init", "--quiet", "--bare", "--initial-branch=main", str(repo)], check=True
        )
    server = f"http://{host}:{port}"
    install_hook(str(repo), server, str(token_file), str(policy), name="demo")
    q = shlex.quote
    exports = [
        f"GATE_HOME={q(str(home))}",
        f"GATE_DATABASE_URL={q(os.environ['GATE_DATABASE_URL'])}",
    ]
    if os.environ["GATE_SECRET_KEY"] == secret_file.read_text().strip():  # else: the caller's own
        exports.append(f'GATE_SECRET_KEY="$(cat {q(str(secret_file))})"')
    return Demo(home, server, repo, passwords, token_file, agent_token_file, exports)


def instructions(demo: Demo) -> list[str]:
    work = demo.home / "work"
    q = shlex.quote
    return [
        f"gate demo is ready in {demo.home}",
        f"  web app:    {demo.server}/requests",
        *(
            f"  {role + ':':<11} {user} / {demo.passwords[user]}"
            for user, _, _, role in ACCOUNTS
            if user in demo.passwords
        ),
        f"  repository: {demo.repo} (policy {demo.home / 'policy.toml'})",
        "",
        "In another terminal, push as an agent and watch it held:",
        f"  git clone {q(str(demo.repo))} {q(str(work))} && cd {q(str(work))}",
        "  git config user.name 'Dev Human' && git config user.email dev@example.com",
        "  echo '# readme' > README.md && git add README.md && git commit -m 'docs' && git push origin HEAD:main",
        "  mkdir -p train && echo 'lr = 3e-4' > train/config.py && git add train",
        "  git commit -m 'Tune learning rate' -m 'Co-Authored-By: Claude <noreply@anthropic.com>'",
        f"  REMOTE_USER={DEMO_AGENT} git push origin HEAD:main   # refused: names the approval request",
        "",
        f"Then log in at {demo.server}/login, approve the request, and push again: it passes.",
        f"The agent can wait for sign-off with its own read token: gate wait ID --server {demo.server} "
        f"--token-file {q(str(demo.agent_token_file))}",
        "",
        "To run gate commands (gate user list, gate pause status, gate report, ...) on the demo:",
        "  export " + " ".join(demo.exports),
    ]
