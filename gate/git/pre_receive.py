"""The pre-receive hook: refuse pushes that bring unapproved agent changes to guarded paths.

Entry point: ``python -m gate.git.pre_receive`` from the script that ``gate install-hook`` writes. Most
pushes are settled by gate.git.fastpath with nothing imported beyond Python's start-up; the rest
take the full path below, which still imports neither pygit2 nor requests unless something is
held. Everything shown to the pusher goes to stderr prefixed with ``gate:``. Like the fast
path, this module imports neither ``os`` nor ``__future__`` before it needs the full path.
"""

import posix
import sys

from gate.errors import GateError
from gate.git.fastpath import decide, environ_of_process

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from gate.git.config import HookConfig

CHAINED_HOOK = "pre-receive.gate-chained"


def run_pre_receive(
    stdin: bytes, environ: "Mapping[str, str]", git_dir: str
) -> tuple[int, list[str]]:
    """Decide a push. Returns the exit code and the lines to show the pusher."""
    if decide(stdin, environ, git_dir):
        return 0, []
    from gate.git.policy import PolicyError
    from gate.git.refs import parse_ref_updates
    from gate.git.settings import load_state

    updates = parse_ref_updates(stdin)

    try:
        state = load_state(git_dir)
    except PolicyError as exc:
        raise GateError(
            "gate: the push is refused because the gate policy cannot be used:",
            lines=[
                "gate: push refused: the gate policy cannot be used, so gate cannot decide.",
                *(f"gate:   {line}" for line in exc.lines),
                "gate: Ask your gate admin to fix it (`gate policy check FILE` shows the problems).",
            ],
        ) from None
    config, policy = state.config, state.policy
    if not any(policy.is_protected(u.ref) for u in updates):
        return 0, []

    from gate.git.classify import classify
    from gate.git.detection import AgentDetector, find_pusher
    from gate.git.plumbing import Git

    pusher = find_pusher(environ)
    detector = AgentDetector(policy.agents, pusher, state.catalog())
    verdicts = [
        v for v in classify(Git(git_dir, dict(environ)), policy, updates, detector) if v.holds
    ]
    if not verdicts:
        return 0, []
    return _ask_server(config, policy, pusher, verdicts)


def _ask_server(
    config: "HookConfig", policy: "Any", pusher: str | None, verdicts: "list[Any]"
) -> tuple[int, list[str]]:
    from gate.git.settings import enable_site_packages

    enable_site_packages()
    from gate.git.client import (
        Deadline,
        change_item,
        commit_item,
        enforce_policy,
        hold_payload,
        submit_holds,
    )
    from gate.git.diffs import commit_diffs, diff_sha256, diffs_to_json, open_repository
    from gate.git.messages import refusal_lines, server_down_lines, signed_off_lines

    try:
        repo = open_repository()
        answers = []
        deadline = Deadline(config.timeout)  # one wall-clock budget for all the server calls
        for verdict in verdicts:
            items = []
            for held in verdict.held_commits:
                diffs = diffs_to_json(commit_diffs(repo, held.commit.id))
                items.append(commit_item(held, diffs, diff_sha256(diffs)))
            if verdict.held_change is not None:
                items.append(change_item(verdict.held_change))
            payload = hold_payload(config, policy, pusher, verdict, items)
            answer = submit_holds(config, payload, deadline)
            enforce_policy(answer, items, policy)
            answers.append(answer)
    except GateError as exc:
        return 1, server_down_lines(config, verdicts, str(exc))
    if all(item["state"] == "approved" for answer in answers for item in answer["items"]):
        return 0, signed_off_lines(verdicts, answers)
    return 1, refusal_lines(config, verdicts, answers)


def _run_chained(git_dir: str, stdin: bytes) -> int:
    """Run the pre-receive hook that was there before gate, with the same input."""
    chained = f"{git_dir}/hooks/{CHAINED_HOOK}"
    if not posix.access(chained, posix.F_OK):
        return 0
    if not posix.access(chained, posix.X_OK):
        print(f"gate: {chained} is not executable; push refused until it is fixed", file=sys.stderr)
        return 1
    import subprocess

    return subprocess.run([chained], input=stdin).returncode


def main() -> int:
    environ = environ_of_process()
    git_dir = environ.get("GIT_DIR", ".")
    stdin = sys.stdin.buffer.read()
    try:
        chained = _run_chained(git_dir, stdin)
        if chained != 0:
            return chained
        code, lines = run_pre_receive(stdin, environ, git_dir)
    except GateError as exc:
        code, lines = (
            1,
            [line if line.startswith("gate:") else f"gate: {line}" for line in exc.lines],
        )
        lines.append("gate: push refused: gate could not decide whether it needs sign-off.")
    except Exception as exc:  # fail closed on anything unforeseen, without a traceback
        code = 1
        lines = [
            f"gate: push refused: internal error ({type(exc).__name__}: {exc}).",
            "gate: Nothing was changed. Please report this to your gate admin.",
        ]
    if lines:
        sys.stderr.write("".join(f"{line}\n" for line in lines))
    return code


if __name__ == "__main__":
    sys.exit(main())
