"""Benchmark: instructions the installed pre-receive hook executes, against Python's start-up.

Wall time of a 20 ms push moves by more than the hook costs from one run to the next on a
shared machine (bench/README.md). valgrind's callgrind counts instructions instead, in the
hook process and every git it runs (``--trace-children=yes``), the same whatever else the
machine does; the kernel's work (starting processes, pipes, files) is not counted. The cases
are push_small's 1-commit pushes (the hook alone, settings warm, the pushed objects in the
repository but on no ref, as in a push's quarantine) and, with ``--large``, push_large's
10,000 agent commits, pushed by an unnamed pusher and by an agent account; each is compared
with ``python -I -S -c pass``.

``--gate DIR`` (repeatable) names gate source trees to compare in the same run (a checkout of
main beside a branch, say); the default is this tree.

    .venv/bin/python bench/hook_instructions.py [--gate DIR ...] [--large]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
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
    workdir,
)
from exact_stage import install
from push_small import add_commit


def instructions(args: list[str], stdin: bytes = b"", env: dict[str, str] | None = None) -> int:
    """Instructions ``args`` executes with every process it starts (callgrind's totals)."""
    out = Path(tempfile.mkdtemp(prefix="callgrind-"))
    try:
        proc = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--trace-children=yes",
                f"--callgrind-out-file={out}/cg.%p",
                *args,
            ],
            input=stdin,
            env=env,
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {proc.stderr.decode(errors='replace')[-2000:]}")
        total = 0
        for file in out.iterdir():
            for line in file.read_text(errors="replace").splitlines():
                if line.startswith(("summary:", "totals:")):
                    total += int(line.split()[1])
                    break
        return total
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gate", type=Path, action="append", help="gate source tree")
    parser.add_argument("--large", action="store_true", help="also the 10,000-commit pushes")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    trees = [t.resolve() for t in (args.gate or [ROOT])]
    print(f"# hook_instructions: {machine()}")
    with workdir("instructions") as tmp:
        settings_files(tmp)
        source = tmp / "source.git"
        histories = [
            ("refs/heads/main", History(200)),
            ("refs/heads/human", History(1, start=200, seed=2, guarded=True)),
            ("refs/heads/agent", History(1, start=200, seed=3, agent=True)),
        ]
        if args.large:
            histories.append(("refs/heads/large", History(10_000, start=200, seed=5, agent=True)))
        tips = build_repo(source, *histories)
        base = tips["refs/heads/main"]
        add_commit(source, "refs/heads/exact", base, "notes/x.ckpt.txt")
        tips["refs/heads/exact"] = git("rev-parse", "refs/heads/exact", cwd=source).decode().strip()
        cases = [
            ("1 human commit on train/", "human", None),
            ("1 agent commit, docs", "agent", None),
            ("1 agent commit, docs, agent pusher", "agent", "agent-trainer"),
            ("1 agent commit, exact stage", "exact", None),
        ]
        if args.large:
            cases += [
                ("10,000 agent commits", "large", None),
                ("10,000 agent commits, agent pusher", "large", "agent-trainer"),
            ]
        python = instructions([sys.executable, "-I", "-S", "-c", "pass"])
        print(f"{'python -I -S -c pass':<40} {python / 1e6:9.1f} M   1.00x")
        if args.large:  # push_large's floor: list the new commits and their changed paths
            large = tips["refs/heads/large"]
            floor = instructions(
                [
                    "sh",
                    "-c",
                    f"git rev-list {large} --not {base} | git diff-tree --stdin -r "
                    "--root --name-only >/dev/null",
                ],
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_DIR": str(source)},
            )
            print(
                f"{'10,000: rev-list | diff-tree (floor)':<40} {floor / 1e6:9.1f} M "
                f"{floor / python:6.2f}x"
            )
        for n, tree in enumerate(trees):
            target = new_target(tmp / f"hooked-{n}.git", source, base)
            install(tree, target, tmp, budget=3600)  # valgrind runs it 50 times slower
            # The pushed objects, so that the hook alone can read them, on no ref, as in a
            # push's quarantine: an agent pusher's commits are new to the repository, and
            # remembered.
            refs = sorted({f"refs/heads/{branch}:refs/bench/{branch}" for _, branch, _ in cases})
            subprocess.run(
                ["git", "fetch", "--quiet", str(source), *refs],
                cwd=target,
                check=True,
                env=git_env(),
            )
            for ref in refs:
                git("update-ref", "-d", ref.partition(":")[2], cwd=target)
            for label, branch, pusher in cases:
                env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_DIR": str(target)}
                if pusher:
                    env["REMOTE_USER"] = pusher
                stdin = f"{base} {tips[f'refs/heads/{branch}']} refs/heads/main\n".encode()
                hook = str(target / "hooks" / "pre-receive")
                subprocess.run(
                    [hook], input=stdin, env=env, cwd=target, check=True, capture_output=True
                )  # warm: the settings are compiled here
                count = instructions([hook], stdin, env)
                print(
                    f"{label + ', ' + tree.name:<40} {count / 1e6:9.1f} M {count / python:6.2f}x",
                    flush=True,
                )


if __name__ == "__main__":
    main()
