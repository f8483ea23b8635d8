"""Benchmark: the cost of provenance memory on the human fast path.

The same human push, through gate's hook, to a repository whose store of agent-pushed commits
(gate.git.provenance) names ``--remembered`` commits (default 100,000), and to the same
repository with no store: the first stage then looks every commit of the push up (one bucket
file of the store read per distinct id prefix). Cases: a 1-commit push and a 1,000-commit push
of human commits (nothing held either way); the ratio is with the store over without it, in
the same run. The hook alone against no hook is printed for reference. Each case is printed
twice: wall time, and CPU time of every process of the push (client, receive-pack, the hook
and its git children; not the detached report worker), which a loaded machine disturbs less.

    .venv/bin/python bench/provenance.py [--runs 11] [--remembered 100000]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
from pathlib import Path

from _common import (
    Case,
    History,
    build_repo,
    install_gate,
    interleave,
    machine,
    new_target,
    push,
    wait_for_report_workers,
    warm_cache,
    workdir,
)


def synthetic_store(path: Path, count: int) -> None:
    """A store of ``count`` random commit ids, as agent pushes of 100 commits each leave it."""
    from gate.git.provenance import remember

    path.mkdir(parents=True)
    rng = random.Random(12)
    ids = [f"{rng.getrandbits(160):040x}" for _ in range(count)]
    pushes = [
        (f"refs/heads/agent/{n}", "0" * 40, f"{n:040x}", ids[start : start + 100])
        for n, start in enumerate(range(0, count, 100))
    ]
    remember(str(path), pushes, "agent-trainer", now=1_700_000_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--remembered", type=int, default=100_000)
    args = parser.parse_args()
    print(f"# provenance: {machine()}; store of {args.remembered} remembered commits")
    with workdir("provenance") as tmp:
        source = tmp / "source.git"
        tips = build_repo(
            source,
            ("refs/heads/main", History(200)),
            ("refs/heads/one", History(1, start=200, seed=2, guarded=True)),
            ("refs/heads/many", History(1000, start=200, seed=3, guarded=True)),
        )
        base = tips["refs/heads/main"]
        store = tmp / "store-holder"
        synthetic_store(store, args.remembered)

        cpu: dict[str, list[float]] = {}

        def run(rev: str, setup: str) -> float:
            target = new_target(tmp / f"t-{setup}.git", source, base)
            if setup != "none":
                install_gate(target, tmp)
            if setup == "store":
                # Hard links: a copy's 4,096 fresh files would still be in the page cache's
                # writeback when the push starts (a human push writes nothing there).
                shutil.copytree(store / "gate", target / "gate", copy_function=os.link)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            elapsed = push(source, target, rev, pusher="dana")[0]
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            used = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            cpu.setdefault(setup, []).append(used)
            warm_cache(target, tmp)
            wait_for_report_workers()
            return elapsed

        run("refs/heads/one", "plain")  # the hook's first run writes its settings cache
        for label, rev in (("1 human commit", "refs/heads/one"), ("1000", "refs/heads/many")):
            case = Case(f"{label} on train/, store vs no store", goal="goal <= 1.1x")
            cpu.clear()
            interleave(
                args.runs,
                lambda r=rev: run(r, "store"),
                lambda r=rev: run(r, "plain"),
                case,
                120,
            )
            print(case.line())
            print(Case("  CPU time, all processes", cpu["store"], cpu["plain"], case.goal).line())
            reference = Case(f"{label} on train/, store vs no hook", goal="reference")
            interleave(
                max(3, args.runs // 2),
                lambda r=rev: run(r, "store"),
                lambda r=rev: run(r, "none"),
                reference,
                60,
            )
            print(reference.line())


if __name__ == "__main__":
    main()
