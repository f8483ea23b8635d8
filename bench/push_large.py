"""Benchmark 2: 10,000 and 100,000-commit pushes that hold nothing, with the hook vs without.

The pushed commits are agent commits (Claude Code trailer) to unguarded paths, 1-3 files each
over 2,000 paths: the worst case that holds nothing, since the hook must list every commit's
changed paths; pushed by an unnamed pusher, and again by an agent account (``agent-x``), whose
accepted commits the hook also remembers. Also times the hook's decision alone (in process: the classifier's first stage,
which settles these pushes) and, for reference, the exact stage with every commit let through
(what ``gate check`` runs), against git's own floor,
``git rev-list NEW --not BASE | git diff-tree --stdin -r --root --name-only``.

    .venv/bin/python bench/push_large.py [--sizes 10000 100000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from pathlib import Path

from _common import (
    POLICY,
    Case,
    History,
    HookClock,
    build_repo,
    git_env,
    install_gate,
    interleave,
    machine,
    new_target,
    push,
    wait_for_report_workers,
    warm_cache,
    workdir,
)


def hook_decision(repo, base: str, new: str) -> float:  # type: ignore[no-untyped-def]
    """The hook's whole decision in process (gate.git.pre_receive.run_pre_receive)."""
    from gate.git.pre_receive import run_pre_receive

    stdin = f"{base} {new} refs/heads/main\n".encode()
    start = time.perf_counter()
    code, _ = run_pre_receive(stdin, git_env(), str(repo))
    elapsed = time.perf_counter() - start
    assert code == 0
    return elapsed


def full_classification(repo, base: str, new: str) -> float:  # type: ignore[no-untyped-def]
    """The exact stage with no prefilter (every commit and path let through, as in
    ``gate check``), with the settings the hook would load."""
    from gate.git.classify import classify
    from gate.git.detection import AgentDetector
    from gate.git.plumbing import Git
    from gate.git.refs import RefUpdate
    from gate.git.settings import load_state

    state = load_state(str(repo))
    start = time.perf_counter()
    verdicts = classify(
        Git(str(repo), git_env()),
        state.policy,
        [RefUpdate(base, new, "refs/heads/main")],
        AgentDetector(state.policy.agents, None, state.catalog()),
    )
    elapsed = time.perf_counter() - start
    assert not any(v.holds for v in verdicts)
    return elapsed


def install_floor_hook(target: Path) -> None:
    """A pre-receive that does only what the issue calls the physical limit of the job: list
    the new commits and their changed paths. No hook can do less and still know the paths."""
    hook = target / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\nwhile read old new ref; do\n"
        '  git rev-list "$new" --not --branches | git diff-tree --stdin -r --root --name-only'
        " >/dev/null\ndone\n"
    )
    hook.chmod(0o755)


def remember_earlier_pushes(target: Path) -> None:
    """A store as agent accounts' earlier pushes leave it: 1,024 commits in each of its files."""
    from gate.git.provenance import remember

    ids = [f"{n:02x}{k:038x}" for n in range(256) for k in range(4)]
    remember(str(target), [("refs/heads/earlier", "0" * 40, ids[0], ids)], "agent-earlier")


def plumbing(repo, base: str, new: str) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    subprocess.run(
        f"git rev-list {new} --not {base} | git diff-tree --stdin -r --root --name-only",
        shell=True,
        cwd=repo,
        env=git_env(),
        stdout=subprocess.DEVNULL,
        check=True,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--prunable",
        action="store_true",
        help="guard only train/** and configs/train/** (no *.ckpt): git can prune the rest",
    )
    args = parser.parse_args()
    print(f"# push_large: {machine()}" + (" (prunable policy)" if args.prunable else ""))
    for size in args.sizes:
        bench_size(size, args.runs if size <= 10_000 else max(3, args.runs // 2), args.prunable)


def bench_size(size: int, runs: int, prunable: bool = False) -> None:
    with workdir(f"large{size}") as tmp:
        if prunable:  # every guard has a literal directory: diff-tree gets a pathspec
            (tmp / "policy.toml").write_text(POLICY.replace(', "*.ckpt"]', "]"))
        source = tmp / "source.git"
        tips = build_repo(
            source,
            ("refs/heads/main", History(50)),
            ("refs/heads/new", History(size, start=50, seed=5, agent=True)),
        )
        base, new = tips["refs/heads/main"], tips["refs/heads/new"]

        clocks: dict[str, HookClock] = {}

        def run(setup: str, pusher: str | None = None, store: bool = False) -> float:
            target = new_target(tmp / f"t-{setup}.git", source, base)
            if setup == "gate":
                install_gate(target, tmp)
                if store:
                    remember_earlier_pushes(target)
            elif setup == "floor":
                install_floor_hook(target)
            # The hooks' own time inside the push (git's trace2), steadier than the push's.
            label = f"{setup} {pusher or ''}{'' if store else ' first'}"
            if label not in clocks:
                (tmp / f"clock-{len(clocks)}").mkdir()
                clocks[label] = HookClock(tmp / f"clock-{len(clocks)}")
            clock = clocks[label]
            os.environ["BENCH_HOME"] = str(clock.home)  # the pushes' HOME (git_env)
            with clock.watch():
                elapsed = push(source, target, new, pusher=pusher)[0]
            warm_cache(target, tmp)
            wait_for_report_workers()
            return elapsed

        def hooks_line(
            case: Case, setup: str, pusher: str | None = None, store: bool = False
        ) -> str:
            label = f"{setup} {pusher or ''}{'' if store else ' first'}"
            return clocks[label].line(case.base)

        case = Case(f"{size}-commit push, nothing held", goal="goal <= 1.3x")
        interleave(runs, lambda: run("gate"), lambda: run("none"), case, 900)
        print(case.line(), flush=True)
        print(hooks_line(case, "gate"), flush=True)
        # An agent account's push: every commit goes to diff-tree, and the accepted push's new
        # commits are remembered (gate.git.provenance), in a repository whose store holds
        # earlier agent pushes, and in one where this is the first (its files are created).
        for label, store in (("", True), (", first", False)):
            case = Case(f"{size}-commit push by agent-x{label}", goal="goal <= 1.3x")
            interleave(
                runs,
                lambda s=store: run("gate", "agent-x", s),  # type: ignore[misc]
                lambda: run("none", "agent-x"),
                case,
                900,
            )
            print(case.line(), flush=True)
            print(hooks_line(case, "gate", "agent-x", store), flush=True)
        case = Case(f"{size}-commit push, hook = the plumbing floor", goal="reference")
        interleave(runs, lambda: run("floor"), lambda: run("none"), case, 900)
        print(case.line(), flush=True)
        print(hooks_line(case, "floor"), flush=True)
        install_gate(source, tmp)  # settings for the in-process decision; hooks unused here
        hook_decision(source, base, new)  # writes the settings cache, as a first push would
        for label, decision, goal in (
            ("classification alone", hook_decision, "goal <= 1.5x"),
            ("full-path classification", full_classification, "reference"),
        ):
            case = Case(f"{size}-commit {label}", goal=goal)
            interleave(
                runs,
                lambda d=decision: d(source, base, new),
                lambda: plumbing(source, base, new),
                case,
                600,
            )
            print(case.line(), flush=True)


if __name__ == "__main__":
    main()
