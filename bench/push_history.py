"""Benchmark: push a real repository's whole history into an empty gated repository.

Takes any repository (git's own is the case issue 16 names: 81,966 commits on master, 37
octopus merges; fetch it with ``git clone --bare https://github.com/git/git``; nothing fetched
is committed) and pushes REV into an empty bare repository three ways, interleaved:

- without a hook (the baseline);
- with gate's hook, pushed by a human account (``REMOTE_USER=dana``);
- with gate's hook, pushed by an agent account (``REMOTE_USER=agent-x``): every commit is an
  agent's, so every commit's changed paths must be weighed.

The policy guards paths that git's history never touches, with the unanchored pattern that
defeats directory pruning (``*.ckpt``) beside anchored ones, so nothing is held and the hook
does the most work a pass can cost. The gate server is closed (nothing is asked of it). Also
prints the hook's peak memory (the largest resident set of the hook's Python process), read
from ``/proc`` while it runs, and, with ``--check``, ``gate check``'s time over the same
history against ``git rev-list REV | git diff-tree --stdin -m -r --name-only`` (git's floor).

    .venv/bin/python bench/push_history.py --repo /path/to/git.git [--rev master] [--runs 3]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import threading
import time
from pathlib import Path

from _common import (
    Case,
    HookClock,
    git,
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


class PeakMemory:
    """The largest VmHWM of any process running the gate hook while watched."""

    def __init__(self) -> None:
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            for proc in Path("/proc").iterdir():
                try:
                    if b"hooks/pre-receive" not in (proc / "cmdline").read_bytes():
                        continue
                    for line in (proc / "status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            self.peak_kib = max(self.peak_kib, int(line.split()[1]))
                except (OSError, ValueError):
                    continue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, required=True, help="a repository to push from")
    parser.add_argument("--rev", default="master")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--check", action="store_true", help="also time `gate check` on it")
    parser.add_argument(
        "--pushers", nargs="+", default=["dana", "agent-x"], help="the pushers to measure"
    )
    args = parser.parse_args()
    source = args.repo.resolve()
    rev = git("rev-parse", "--verify", f"{args.rev}^{{commit}}", cwd=source).decode().strip()
    count = git("rev-list", "--count", rev, cwd=source).decode().strip()
    print(f"# push_history: {machine()}")
    print(f"# {source} {args.rev} = {rev[:12]}: {count} commits")
    with workdir("history") as tmp:
        plain = tmp / "plain.git"
        gated = tmp / "gated.git"
        peaks: dict[str, int] = {}

        cpu = Case("")
        clock = HookClock(tmp)

        def timed_push(target: Path, pusher: str | None) -> tuple[float, float]:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            seconds = push(source, target, rev, pusher=pusher)[0]
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            used = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            return seconds, used

        def baseline() -> float:
            new_target(plain, source, None)  # with fsck on, as install-hook sets it
            seconds, used = timed_push(plain, None)
            cpu.base.append(used)
            return seconds

        def gated_push(pusher: str) -> float:
            new_target(gated, source, None)
            # gate's default budget (10 s) refuses a push it cannot decide in time: a whole
            # history on a loaded machine can take longer, and the bench measures the decision.
            install_gate(gated, tmp, budget=3600)
            with PeakMemory() as memory, clock.watch():
                seconds, used = timed_push(gated, pusher)
            cpu.gate.append(used)
            peaks[pusher] = max(peaks.get(pusher, 0), memory.peak_kib)
            warm_cache(gated, tmp)
            wait_for_report_workers()
            return seconds

        goals = {"dana": "goal <= 1.1x", "agent-x": "goal <= 1.3x"}
        for pusher in args.pushers:
            goal = goals.get(pusher, "reference")
            case = Case(f"whole history, pusher {pusher}", goal=goal)
            cpu.gate.clear()
            cpu.base.clear()
            clock.seconds.clear()
            interleave(args.runs, lambda p=pusher: gated_push(p), baseline, case, budget=3600)
            cpu.name, cpu.goal = "  CPU time (push and hook, all processes)", goal
            print(case.line(), flush=True)
            print(cpu.line(), f"hook peak RSS {peaks[pusher] / 1024:.0f} MiB", flush=True)
            print(clock.line(case.base), flush=True)

        if args.check:
            check = Case("gate check --pusher agent-x (whole history)", goal="goal < 60 s")

            def gate_check() -> float:
                start = time.perf_counter()
                subprocess.run(
                    [
                        str(Path(__file__).resolve().parent.parent / ".venv/bin/gate"),
                        "check",
                        str(source),
                        "0" * 40,
                        rev,
                        "refs/heads/main",
                        "--policy",
                        str(tmp / "policy.toml"),
                        "--pusher",
                        "agent-x",
                    ],
                    env=git_env(),
                    capture_output=True,
                    check=False,
                )
                return time.perf_counter() - start

            def floor() -> float:
                start = time.perf_counter()
                listed = subprocess.Popen(
                    ["git", "rev-list", rev], cwd=source, env=git_env(), stdout=subprocess.PIPE
                )
                subprocess.run(
                    ["git", "diff-tree", "--stdin", "-m", "-r", "--name-only"],
                    cwd=source,
                    env=git_env(),
                    stdin=listed.stdout,
                    stdout=subprocess.DEVNULL,
                    check=True,
                )
                listed.wait()
                return time.perf_counter() - start

            print(interleave(1, gate_check, floor, check, budget=600).line())


if __name__ == "__main__":
    main()
