"""Benchmark 3: a held push of 1,000 agent commits to guarded paths, against a real server.

The hook's whole run (classification, diffs with pygit2, one POST of 1,000 items, the answer)
is timed as the push; the baseline is the same push with no hook. Each gate run uses a new
repository name, so every run creates its request. Server: gunicorn (2 workers) on SQLite in a
temporary directory, on 127.0.0.1 only.

    .venv/bin/python bench/push_held.py [--commits 1000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import time
import urllib.request

from _common import (
    Case,
    History,
    build_repo,
    free_port,
    git_env,
    install_gate,
    interleave,
    machine,
    new_target,
    workdir,
)


def start_server(tmp, database_url: str):  # type: ignore[no-untyped-def]
    """Migrate the database, make a hook token, start gunicorn; returns (process, url, token)."""
    from gate.app import create_app
    from gate.commands.database import upgrade_database
    from gate.services.accounts import create_token

    secret = secrets.token_hex(16)
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": secret})
    upgrade_database(app)
    with app.app_context():
        token = create_token("bench")[1]
    port = free_port()
    env = {**os.environ, "GATE_DATABASE_URL": database_url, "GATE_SECRET_KEY": secret}
    proc = subprocess.Popen(
        [
            os.path.join(os.path.dirname(sys.executable), "gunicorn"),
            "--workers",
            os.environ.get("BENCH_WORKERS", "2"),
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout",
            "120",
            "gate.app:create_app()",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "gunicorn.log", "w"),  # noqa: SIM115
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/login", timeout=1).read()
            return proc, url, token
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("gunicorn did not start; see gunicorn.log")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"# push_held: {machine()}")
    with workdir("held") as tmp:
        source = tmp / "source.git"
        tips = build_repo(
            source,
            ("refs/heads/main", History(50)),
            ("refs/heads/new", History(args.commits, start=50, agent=True, guarded=True)),
        )
        base, new = tips["refs/heads/main"], tips["refs/heads/new"]
        server, url, token = start_server(tmp, f"sqlite:///{tmp / 'gate.db'}")
        (tmp / "token").write_text(token + "\n")
        counter = iter(range(10_000))
        try:

            def run(setup: str) -> float:
                target = new_target(tmp / f"t-{setup}.git", source, base)
                if setup == "gate":
                    install_gate(target, tmp, server=url, name=f"bench-{next(counter)}")
                start = time.perf_counter()
                proc = subprocess.run(
                    ["git", "push", "--quiet", str(target), f"{new}:refs/heads/main"],
                    cwd=source,
                    capture_output=True,
                    env=git_env(),
                    check=False,
                )
                elapsed = time.perf_counter() - start
                held = b"Approval request" in proc.stderr
                if (setup == "gate") != held or (setup == "none" and proc.returncode):
                    raise RuntimeError(proc.stderr.decode(errors="replace")[-2000:])
                return elapsed

            case = Case(f"held push of {args.commits} agent commits", goal="goal < 2.5 s")
            interleave(args.runs, lambda: run("gate"), lambda: run("none"), case, 600)
            print(case.line())
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
