"""Benchmark: start-up of a push that reaches the hook's exact stage and holds nothing (issue 10).

The case of bench/push_small.py "agent commit, exact stage": one agent commit (a Claude Code
trailer) touching ``notes/x.ckpt.txt``, which the literal prefilter of the guard ``*.ckpt``
cannot rule out, so the hook runs its exact stage (detector, guard matcher), which passes it.
Timed, interleaved round by round (order rotated), as wall time and as CPU time (the process
and every child it waited for, so a busy machine matters less):

- the hook process alone (the installed ``hooks/pre-receive`` with the push's stdin and
  GIT_DIR, nothing else) vs ``python -I -S -c pass``, Python's own start-up (goal: <= ~2x);
- the whole push (``git push`` into a fresh copy of the target) with the hook vs no hook.

``--gate DIR`` (repeatable) names gate source trees to compare in the same run (a checkout of
main beside a branch, say); the default is this tree. Each tree installs its own hook and
compiles its own settings before anything is timed.

    .venv/bin/python bench/exact_stage.py [--runs 30] [--gate DIR ...]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from _common import (
    ROOT,
    History,
    build_repo,
    git,
    git_env,
    machine,
    new_target,
    settings_files,
    wait_for_report_workers,
    workdir,
)
from push_small import add_commit


def install(tree: Path, target: Path, tmp: Path, budget: float | None = None) -> None:
    """Install ``tree``'s gate hook in ``target`` (in a process of its own: that tree's code)."""
    code = (
        f"import sys; sys.path.insert(0, {str(tree)!r})\n"
        "from gate.git.install import install_hook\n"
        f"install_hook({str(target)!r}, 'http://127.0.0.1:9', {str(tmp / 'token')!r}, "
        f"{str(tmp / 'policy.toml')!r}, budget={budget!r})\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def timed(args: list[str], **kwargs: object) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and all it waited for) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, check=False, **kwargs)  # type: ignore[call-overload]
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{args[0]} failed: {proc.stderr.decode(errors='replace')}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--gate", type=Path, action="append", help="gate source tree")
    args = parser.parse_args()
    trees = [t.resolve() for t in (args.gate or [ROOT])]
    print(f"# exact_stage: {machine()}")
    with workdir("exact") as tmp:
        settings_files(tmp)
        source = tmp / "source.git"
        base = build_repo(source, ("refs/heads/main", History(200)))["refs/heads/main"]
        add_commit(source, "refs/heads/exact", base, "notes/x.ckpt.txt")
        new = git("rev-parse", "refs/heads/exact", cwd=source).decode().strip()
        stdin = f"{base} {new} refs/heads/main\n".encode()

        hooked: dict[Path, Path] = {}  # tree -> target with its hook and warm settings
        for n, tree in enumerate(trees):
            target = new_target(tmp / f"hooked-{n}.git", source, base)
            install(tree, target, tmp)
            subprocess.run(  # the pushed objects, for the hook alone
                ["git", "fetch", "--quiet", str(source), "refs/heads/exact:refs/bench/exact"],
                cwd=target,
                check=True,
                env=git_env(),
            )
            hooked[tree] = target

        def hook_alone(tree: Path) -> Callable[[], tuple[float, float]]:
            target = hooked[tree]
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_DIR": str(target)}
            hook = str(target / "hooks" / "pre-receive")
            return lambda: timed([hook], input=stdin, env=env, cwd=target)

        def push_with(tree: Path | None) -> Callable[[], tuple[float, float]]:
            def run() -> tuple[float, float]:
                target = new_target(tmp / "push.git", source, base)
                if tree is not None:
                    install(tree, target, tmp)
                    cache = hooked[tree] / "gate-cache"
                    (target / "gate-cache").write_bytes(cache.read_bytes())
                result = timed(
                    ["git", "push", "--quiet", str(target), "refs/heads/exact:refs/heads/main"],
                    cwd=source,
                    env=git_env(),
                )
                wait_for_report_workers()
                return result

            return run

        cases: dict[str, Callable[[], tuple[float, float]]] = {
            "python -I -S -c pass": lambda: timed([sys.executable, "-I", "-S", "-c", "pass"])
        }
        for tree in trees:
            cases[f"hook alone, {tree.name}"] = hook_alone(tree)
        cases["push, no hook"] = push_with(None)
        for tree in trees:
            cases[f"push, hook of {tree.name}"] = push_with(tree)
        for run in cases.values():  # warm-up: every hook compiles its settings here
            run()
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        names = list(cases)
        for n in range(args.runs):
            for name in names[n % len(names) :] + names[: n % len(names)]:
                results[name].append(cases[name]())

    def medians(name: str) -> tuple[float, float]:
        runs = results[name]
        return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)

    start = medians("python -I -S -c pass")
    plain = medians("push, no hook")
    print(f"{'case':<40} {'wall':>9} {'ratio':>6}  {'CPU':>9} {'ratio':>6}")
    for name in names:
        wall, cpu = medians(name)
        ref = plain if name.startswith("push") else start
        print(
            f"{name:<40} {wall * 1000:6.1f} ms {wall / ref[0]:5.2f}x  "
            f"{cpu * 1000:6.1f} ms {cpu / ref[1]:5.2f}x"
        )
    print(f"(medians of {args.runs} runs; ratios against Python's start-up or the plain push)")


if __name__ == "__main__":
    main()
