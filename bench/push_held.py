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
import subprocess
import time

from _common import (
    Case,
    History,
    build_repo,
    git_env,
    install_gate,
    interleave,
    machine,
    new_target,
    start_server,
    workdir,
)


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
        server, url, token = start_server(
            tmp, f"sqlite:///{tmp / 'gate.db'}", int(os.environ.get("BENCH_WORKERS", "2"))
        )
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
