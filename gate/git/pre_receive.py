"""The pre-receive hook: refuse pushes that bring unapproved agent changes to guarded paths.

Entry point: ``python -m gate.git.pre_receive`` from the script that ``gate install-hook`` writes.
One classifier decides: its first stage (gate.git.prefilter) reads the push once with nothing
imported beyond Python's start-up and settles most pushes there; when it cannot, the exact
stage (gate.git.classify) continues on what it read, still importing requests only when
something is held (and never pygit2: the server renders diffs, gate.git.objects). Everything shown to the pusher goes to stderr prefixed with
``gate:``. This module imports neither ``os`` nor ``__future__`` before the exact stage.
"""

import posix
import sys

from gate.errors import GateError
from gate.git.plumbing import Git, environ_of_process
from gate.git.prefilter import find_pusher, first_stage, load_artifact
from gate.git.refs import is_protected, parse_ref_updates, through_symbolic_refs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from gate.git.config import HookConfig
    from gate.git.settings import HookState

CHAINED_HOOK = "pre-receive.gate-chained"


def run_pre_receive(
    stdin: bytes, environ: "Mapping[str, str]", git_dir: str
) -> tuple[int, list[str]]:
    """Decide a push. Returns the exit code and the lines to show the pusher."""
    verdicts, state = decide(stdin, environ, git_dir)
    if not verdicts:
        return 0, []
    assert state is not None
    git = Git(git_dir, environ)
    return _ask_server(state.config, state.policy, find_pusher(environ), verdicts, git)


def decide(
    stdin: bytes, environ: "Mapping[str, str]", git_dir: str
) -> "tuple[list[Any], HookState | None]":
    """The verdicts that hold something (none: the push passes), and the settings used.

    GateError when gate cannot decide (bad input, a git failure, an unusable policy).
    """
    updates = parse_ref_updates(stdin)
    artifact = load_artifact(git_dir)
    state = None
    if artifact is None:  # first push, or edited settings: compile them (with their errors)
        state = _load_state(git_dir, None)
        patterns: list[str] = list(state.policy.protected_refs)
        artifact = load_artifact(git_dir) or {}
    else:
        patterns = artifact["protected_refs"]
    git = Git(git_dir, environ)
    if not all(is_protected(u.ref, patterns) for u in updates):
        # A name that is not protected may still move a protected ref (symbolic refs).
        literal = [p for p in patterns if "*" not in p]
        symrefs = git.symbolic_refs([*(u.ref for u in updates), *literal])
        if symrefs:
            updates = through_symbolic_refs(updates, patterns, symrefs)
    protected = [u for u in updates if is_protected(u.ref, patterns)]
    if not protected:
        return [], state
    pusher = find_pusher(environ)
    first = None
    if "pathspec" in artifact:
        first = first_stage(
            git, protected, patterns, artifact["pathspec"], artifact["rules"], pusher
        )
        if first.settled:
            return [], state

    from gate.git.classify import classify
    from gate.git.detection import AgentDetector

    if state is None:
        state = _load_state(git_dir, artifact)
    detector = AgentDetector(state.policy.agents, pusher, state.catalog())
    return [v for v in classify(git, state.policy, updates, detector, first) if v.holds], state


def _load_state(git_dir: str, artifact: "dict | None") -> "HookState":
    from gate.git.policy import PolicyError
    from gate.git.settings import load_state

    try:
        return load_state(git_dir, artifact)
    except PolicyError as exc:
        raise GateError(
            "gate: the push is refused because the gate policy cannot be used:",
            lines=[
                "gate: push refused: the gate policy cannot be used, so gate cannot decide.",
                *(f"gate:   {line}" for line in exc.lines),
                "gate: Ask your gate admin to fix it (`gate policy check FILE` shows the problems).",
            ],
        ) from None


def _ask_server(
    config: "HookConfig", policy: "Any", pusher: str | None, verdicts: "list[Any]", git: Git
) -> tuple[int, list[str]]:
    from gate.git.settings import enable_site_packages

    enable_site_packages()
    from gate.git.client import (
        Deadline,
        change_item,
        check_content,
        commit_item,
        enforce_policy,
        hold_payload,
        submit_holds,
    )
    from gate.git.messages import (
        refusal_lines,
        server_down_lines,
        shown_identities,
        signed_off_lines,
    )
    from gate.git.objects import held_objects

    try:
        answers = []
        deadline = Deadline(config.timeout)  # one wall-clock budget for all the server calls
        for verdict in verdicts:
            sent = held_objects(
                git, [(h.commit.id, h.commit.tree, h.commit.parents) for h in verdict.held_commits]
            )
            items = [
                commit_item(h, s.objects) for h, s in zip(verdict.held_commits, sent, strict=True)
            ]
            if verdict.held_change is not None:
                items.append(change_item(verdict.held_change))
            payload = hold_payload(config, policy, pusher, verdict, items)
            answer = submit_holds(config, payload, deadline)
            check_content(answer, {s.commit: s.content_sha256 for s in sent})
            enforce_policy(answer, items, policy)
            answers.append(answer)
    except GateError as exc:
        shown = shown_identities(git, verdicts)
        return 1, server_down_lines(config, verdicts, str(exc), shown)
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
