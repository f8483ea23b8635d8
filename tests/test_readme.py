"""The README's production commands, run as written: its server block in a fresh virtual
environment installed from this checkout, then its audit block against that server's data.

The only changes made to the text are where it must point at this test's own places: the
install folder (/opt/gate), the database URL, gunicorn's port and worker count."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def sh_block(after_heading: str) -> str:
    """The first ```sh block after the heading (a line that starts with it)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n{after_heading}\n")
    match = re.compile(r"^```sh\n(.*?)^```$", re.S | re.M).search(text, start)
    assert match is not None, f"no sh block after {after_heading!r}"
    return match.group(1)


def replaced(text: str, old: str, new: str) -> str:
    assert old in text, f"the README no longer says {old!r}"
    return text.replace(old, new)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_readme_server_and_audit_blocks_work_as_written(tmp_path: Path, database_url: str) -> None:
    prefix = tmp_path / "opt-gate"
    port = _free_port()
    server = sh_block("### 1. The server")
    server = replaced(server, "/opt/gate", str(prefix))
    server = re.sub(
        r"^export GATE_DATABASE_URL=\S+",
        f"export GATE_DATABASE_URL={database_url}",
        server,
        flags=re.M,
    )
    server = replaced(server, "-w 4 -b 127.0.0.1:8080", f"-w 1 -b 127.0.0.1:{port}")
    *setup, serve = server.strip().splitlines()
    assert "gunicorn" in serve
    checkout = tmp_path / "checkout"  # a copy: the build must not write into the source tree
    shutil.copytree(
        ROOT, checkout, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.egg-info")
    )
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATE_", "VIRTUAL_ENV"))}
    env.update(HOME=str(home), PATH=f"{prefix / 'bin'}:{env['PATH']}")
    script = "set -e\n" + "\n".join(setup) + f"\nexec {serve}\n"
    answers = tmp_path / "answers"
    answers.write_text("a long admin password\n" * 2)  # the password prompt, and its repeat
    log = tmp_path / "server.log"
    with answers.open() as stdin, log.open("w") as out:
        gunicorn = subprocess.Popen(
            ["bash", "-c", script],
            cwd=checkout,
            env=env,
            stdin=stdin,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # no terminal: the password prompt reads stdin
        )
    try:
        deadline = time.monotonic() + 600
        while True:
            assert gunicorn.poll() is None, log.read_text()
            try:
                if requests.get(f"http://127.0.0.1:{port}/login", timeout=5).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass  # not listening yet, or its worker is still importing the app (a busy host)
            assert time.monotonic() < deadline, "gunicorn never answered"
            time.sleep(0.5)
    finally:
        os.killpg(gunicorn.pid, 15)
        gunicorn.wait(timeout=60)
    output = log.read_text()
    assert "created the schema at revision" in output
    assert "added admin alice (Alice Example <alice@example.com>)" in output
    assert re.search(r"^gate_\S+$", output, re.M), "the hook token is printed"

    # The audit block, on the server's host: its settings as the server block exported them.
    env.update(GATE_SECRET_KEY="s" * 64, GATE_DATABASE_URL=database_url)
    auditor = tmp_path / "auditor"
    auditor.mkdir()
    audit = subprocess.run(
        ["bash", "-c", "set -e\n" + sh_block("## Audit trail")],
        cwd=auditor,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "OK: verified" in audit.stdout
    assert (auditor / "audit-ed25519.pub.pem").read_bytes().startswith(b"-----BEGIN PUBLIC KEY")
