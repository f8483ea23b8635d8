"""Benchmark 1: a 1-commit push with gate's hook installed vs the same push with no hook.

Nothing is held: one case pushes a human commit, one an agent commit to unguarded paths (so the
hook also lists its changed paths), one the same commit pushed by an agent account (the policy's
``agents.pushers``: the hook also proves the update a fast-forward), and one an agent commit to
``notes/x.ckpt.txt``, which the literal prefilter cannot rule out (it contains ``.ckpt``), so
the push reaches the exact stage (detector, guard matcher) and passes there. A trivial Python
hook is timed too, for reference: Python's start-up.

    .venv/bin/python bench/push_small.py [--runs 15]
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from _common import (
    AGENT_TRAILER,
    Case,
    History,
    build_repo,
    install_gate,
    install_trivial_hook,
    interleave,
    machine,
    new_target,
    push,
    wait_for_report_workers,
    warm_cache,
    workdir,
)


def add_commit(repo: Path, ref: str, parent: str, path: str) -> None:
    """One agent commit on ``parent`` that changes ``path`` only, dated after the histories
    (a commit older than its parent makes rev-list walk on to prove it new: 5 M instructions)."""
    message = f"notes\n\n{AGENT_TRAILER}\n"
    stream = (
        f"commit {ref}\ncommitter A <a@example.com> 1800000000 +0000\n"
        f"data {len(message.encode())}\n{message}\nfrom {parent}\n"
        f"M 100644 inline {path}\ndata 2\nx\n\ndone\n"
    )
    subprocess.run(
        ["git", "fast-import", "--quiet", "--done"], cwd=repo, input=stream.encode(), check=True
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    print(f"# push_small: {machine()}")
    with workdir("small") as tmp:
        source = tmp / "source.git"
        tips = build_repo(
            source,
            ("refs/heads/main", History(200)),
            ("refs/heads/human", History(1, start=200, seed=2)),
            ("refs/heads/agent", History(1, start=200, seed=3, agent=True)),
        )
        base = tips["refs/heads/main"]
        add_commit(source, "refs/heads/exact", base, "notes/x.ckpt.txt")

        def run(rev: str, setup: str, pusher: str | None = None) -> float:
            target = new_target(tmp / f"t-{setup}.git", source, base)
            if setup == "gate":
                install_gate(target, tmp)
            elif setup == "trivial":
                install_trivial_hook(target)
            elapsed = push(source, target, rev, pusher=pusher)[0]
            warm_cache(target, tmp)
            wait_for_report_workers()
            return elapsed

        run("refs/heads/human", "gate")  # the hook's first run writes its settings cache
        for label, rev, pusher in (
            ("human commit", "refs/heads/human", None),
            ("agent commit, docs", "refs/heads/agent", None),
            ("agent pusher, docs", "refs/heads/agent", "agent-trainer"),
            ("agent commit, exact stage", "refs/heads/exact", None),
        ):
            case = Case(f"1-commit push, {label}", goal="goal <= 2x")
            interleave(
                args.runs,
                lambda r=rev, p=pusher: run(r, "gate", p),
                lambda r=rev, p=pusher: run(r, "none", p),
                case,
                60,
            )
            print(case.line())
        case = Case("1-commit push, trivial Python hook", goal="reference")
        interleave(
            args.runs,
            lambda: run("refs/heads/human", "trivial"),
            lambda: run("refs/heads/human", "none"),
            case,
            60,
        )
        print(case.line())


if __name__ == "__main__":
    main()
