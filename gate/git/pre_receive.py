"""The pre-receive hook: refuse pushes that bring unapproved agent changes to guarded paths.

Entry point: ``python -m gate.git.pre_receive`` from the script that ``gate install-hook`` writes.
One classifier decides: its first stage (gate.git.prefilter) reads the push once with nothing
imported beyond Python's start-up and settles most pushes there; when it cannot, the exact
stage (gate.git.classify) continues on what it read, still importing requests only when
something is held (and never pygit2: the server renders diffs, gate.git.objects). Everything
shown to the pusher goes to stderr prefixed with ``gate:`` (and ``GL-HOOK-ERR:`` before it on
GitLab). The whole hook, chained hook and server calls included, runs within the budget of its
settings (``Budget``, a SIGALRM timer). This module imports neither ``os`` nor ``__future__``
before the exact stage.
"""

import _signal  # type: ignore[import-not-found]  # what signal wraps: loaded at start-up, signal is not
import posix
import sys
import time

from gate.errors import GateError
from gate.git.plumbing import Git, environ_of_process
from gate.git.prefilter import (
    PUSHER_VARIABLES,
    config_origin,
    find_pusher,
    first_stage,
    fold,
    load_artifact,
    may_match,
    unknown_pusher_is_agent,
)
from gate.git.refs import is_protected, parse_ref_updates, star_match, through_symbolic_refs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from gate.git.refs import RefUpdate
    from gate.git.settings import HookState

CHAINED_HOOK = "pre-receive.gate-chained"
GITLAB_PREFIX = "GL-HOOK-ERR: "  # GitLab shows only lines that start so in its web UI


class Budget:
    """The whole hook's wall-clock budget, from the start of main(): when it runs out, the
    hook refuses with its own message (and stops the chained hook it waits for) before the
    host kills it, whose own message would not say why."""

    def __init__(self, seconds: float, prefix: str) -> None:
        self.seconds = seconds
        # The refusal must be written and the process gone within the budget.
        self.end = time.monotonic() + seconds - min(0.25, seconds / 10)
        self.children: list[int] = []
        self.message = (
            f"{prefix}gate: push refused: gate could not decide within its time budget of "
            f"{seconds:g} seconds (budget in its settings). Nothing was changed; push again, "
            "and tell your gate admin if it persists.\n"
        ).encode("utf-8", "replace")
        _signal.signal(_signal.SIGALRM, self._expire)
        _signal.setitimer(_signal.ITIMER_REAL, max(0.001, self.end - time.monotonic()))

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def _expire(self, signum: int, frame: object) -> None:
        for pid in self.children:
            try:  # noqa: SIM105 - contextlib would be an import on the hook's path
                posix.kill(pid, 9)
            except OSError:
                pass
        posix.write(2, self.message)
        posix._exit(1)


def run_pre_receive(
    stdin: bytes,
    environ: "Mapping[str, str]",
    git_dir: str,
    central: str | None = None,
    remaining: "Callable[[], float] | None" = None,
) -> tuple[int, list[str]]:
    """Decide a push. Returns the exit code and the lines to show the pusher."""
    verdicts, state = decide(stdin, environ, git_dir, central)
    if not verdicts:
        return 0, []
    assert state is not None
    seconds = state.config.budget if remaining is None else remaining()
    return _ask_server(state, environ, verdicts, seconds, Git(git_dir, environ), git_dir)


def decide(
    stdin: bytes,
    environ: "Mapping[str, str]",
    git_dir: str,
    central: str | None = None,
    artifact: "dict | None" = None,
    state: "HookState | None" = None,
    agent: "AgentPush | None" = None,
) -> "tuple[list[Any], HookState | None]":
    """The verdicts that hold something (none: the push passes), and the settings used.
    ``artifact``, ``state``: the compiled or loaded settings the caller already has.
    ``agent``: an agent account's push, given the new commits the first stage walks.

    GateError when gate cannot decide (bad input, a git failure, an unusable policy, no
    authenticated pusher where one is required).
    """
    updates = parse_ref_updates(stdin)
    if artifact is None and state is None:
        artifact = load_artifact(git_dir, config_origin(environ, central))
    if artifact is None:  # first push, or edited settings: compile them (with their errors)
        state = state or _load_state(git_dir, None, environ, central)
        patterns: list[str] = list(state.policy.protected_refs)
        artifact = load_artifact(git_dir, config_origin(environ, central)) or {}
        hook = _hook_settings(state)
    else:
        patterns = artifact["protected_refs"]
        hook = artifact["hook"]
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
    variables = hook["pusher_variables"]
    pusher = find_pusher(environ, variables)
    if pusher is None and hook["require_pusher"]:
        raise GateError(
            "no authenticated pusher",
            lines=[
                f"gate: push refused: {protected[0].ref} is protected and this repository "
                "requires an authenticated pusher (require_pusher), but the git server "
                f"passed none: none of {', '.join(variables)} is set.",
                "gate: Ask your git server admin to pass the authenticated user to hooks "
                "(README: Telling the hook who pushed).",
            ],
        )
    if hook["layout"] == "gitolite":
        _gitolite_check(environ, protected)
    unknown = hook["unknown_pusher"]
    first = None
    if "pathspec" in artifact:
        tip = agent.single_tip() if agent is not None else None
        first = first_stage(
            git, protected, patterns, artifact["pathspec"], artifact["rules"], pusher, unknown, tip
        )
        if agent is not None:
            agent.new_commits = first.new_commits
        if first.settled:
            return [], state

    from gate.git.classify import classify
    from gate.git.detection import AgentDetector

    if state is None:
        state = _load_state(git_dir, artifact, environ, central)
    detector = AgentDetector(
        state.policy.agents, pusher, state.catalog(), unknown, variables, state.literals
    )
    verdicts = classify(git, state.policy, protected, detector, first, _signatures(git, state))
    return [v for v in verdicts if v.holds], state


def _signatures(git: Git, state: "HookState") -> "Any":
    """Signature checks against the key registry kept in the repository (fetched from the
    server when missing or stale, only if a decision needs it)."""
    from gate.git.classify import Signatures

    config = state.config
    git_dir = git.env["GIT_DIR"]

    def registry() -> "Any":  # only when a commit is signed
        from gate.git.settings import enable_site_packages
        from gate.git.signing import registry_for_push

        enable_site_packages()  # requests, for the server
        from gate.git.client import Deadline, fetch_key_registry

        seconds = max(1.0, config.budget / 3)
        return registry_for_push(lambda: fetch_key_registry(config, Deadline(seconds)), git_dir)

    return Signatures(git, git_dir, registry)


def agent_push(
    stdin: bytes,
    environ: "Mapping[str, str]",
    git_dir: str,
    central: str | None,
    artifact: "dict | None",
    state: "HookState | None",
) -> "AgentPush | None":
    """The push, when its pusher is an agent account (its commits are remembered once gate
    accepts it, gate.git.provenance); None for anyone else, found without reading more."""
    hook = artifact["hook"] if artifact and "hook" in artifact else None
    if hook is None:
        state = state or _load_state(git_dir, artifact, environ, central)
        hook = _hook_settings(state)
    if not hook["guarded"]:
        return None
    pusher = find_pusher(environ, hook["pusher_variables"])
    rules = artifact.get("rules") if artifact else None
    unknown_agent = unknown_pusher_is_agent(pusher, hook["unknown_pusher"])
    if (
        rules is not None
        and not unknown_agent
        and (pusher is None or not may_match(fold(pusher), rules["pusher_rules"]))
    ):
        return None  # certainly no agent account: the human fast path reads nothing more
    globs = rules.get("pusher_globs") if rules is not None else None
    if globs is not None and not unknown_agent:
        # The policy's globs decide exactly without the detector (and re) here.
        if pusher is None or not any(star_match(glob, fold(pusher)) for glob in globs):
            return None
    elif not unknown_agent:
        from gate.git.detection import AgentDetector

        state = state or _load_state(git_dir, artifact, environ, central)
        agents = state.policy.agents.replace(builtin=False)  # the catalog reads commits only
        detector = AgentDetector(
            agents, pusher, None, hook["unknown_pusher"], hook["pusher_variables"]
        )
        if not detector.pusher_signals():
            return None
    return AgentPush(Git(git_dir, environ), parse_ref_updates(stdin), pusher, git_dir)


class AgentPush:
    """An agent account's push. The commits it brings that no ref has yet are remembered on
    every ref once gate accepts it, before git updates a ref: a push gate refuses leaves
    nothing. Where it updates one ref, the decision's first stage lists them as it walks
    (``single_tip``, ``new_commits``): the same commits are not walked twice."""

    def __init__(self, git: Git, updates: "list", pusher: str | None, git_dir: str) -> None:
        self.git = git
        self.updates = [u for u in updates if not u.is_delete]
        self.pusher = pusher
        self.git_dir = git_dir
        # The single update's new commits, as the first stage walked them (None: not walked).
        self.new_commits: list[str] | None = None

    def single_tip(self) -> str | None:
        """The new tip, where the push updates one ref (and deletes none)."""
        return self.updates[0].new if len(self.updates) == 1 else None

    def remember(self) -> int:
        """Remember the new commits; the number remembered. GateError when the store cannot
        be written: the push is refused, since an accepted agent push must not be forgotten."""
        from gate.git.provenance import damaged, remember

        pushes = []
        earlier: list[str] = []
        for update in self.updates:
            # New to the repository: reachable from no ref before this push (nor from an
            # earlier update of the same push, which names them first).
            if self.new_commits is not None and self.single_tip() == update.new:
                ids = self.new_commits
            else:
                ids = self.git.commit_ids([update.new], earlier, ["--not", "--all"])
            pushes.append((update.ref, update.old, update.new, ids))
            earlier.append(update.new)
        try:
            return remember(self.git_dir, pushes, self.pusher)
        except OSError as exc:
            error = damaged(self.git_dir, f"not writable ({exc.strerror}: {exc.filename})")
            raise GateError(
                error.args[0],
                lines=[
                    f"gate: push refused: gate could not remember the commits agent account "
                    f"{self.pusher or '(no authenticated pusher)'} pushes ({exc.strerror}: "
                    f"{exc.filename}), so a later push of them to a protected ref could not be "
                    "told an agent's.",
                    *error.lines[1:],
                ],
            ) from None


def _hook_settings(state: "HookState") -> dict:
    from gate.git.settings import hook_settings

    return hook_settings(state.config)


def _gitolite_check(environ: "Mapping[str, str]", updates: "list[RefUpdate]") -> None:
    """Ask gitolite's access rules first: gitolite checks them in its update hook, after
    pre-receive, and a request for a push it denies is noise. Every gitolite write permission
    includes W, so W denied is the push denied; gate refuses it itself, asking no sign-off
    (an error of ``gitolite access`` refuses too: it cannot be told from a denial). When
    gitolite cannot be asked at all, gate decides as if it allowed."""
    repo, user, bindir = (environ.get(name, "") for name in ("GL_REPO", "GL_USER", "GL_BINDIR"))
    if not (repo and user and bindir):
        return
    gitolite = f"{bindir}/gitolite"
    for update in updates:
        try:
            pid = posix.posix_spawn(
                gitolite, [gitolite, "access", "-q", repo, user, "W", update.ref], dict(environ)
            )
            _, status = posix.waitpid(pid, 0)
        except OSError:
            return
        if posix.waitstatus_to_exitcode(status) != 0:
            raise GateError(
                "gitolite denies the push",
                lines=[
                    f"gate: push refused: gitolite does not let {user} write {update.ref} in "
                    f"{repo} (gitolite access), so gate asked no one to sign it off."
                ],
            )


def _load_state(
    git_dir: str, artifact: "dict | None", environ: "Mapping[str, str]", central: str | None
) -> "HookState":
    from gate.git.policy import PolicyError
    from gate.git.settings import load_state

    try:
        return load_state(git_dir, artifact, environ, central)
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
    state: "HookState",
    environ: "Mapping[str, str]",
    verdicts: "list[Any]",
    seconds: float,
    git: Git,
    git_dir: str,
) -> tuple[int, list[str]]:
    from gate.git.checkpoints import keep_checkpoint
    from gate.git.prefilter import LAYOUT_PUSHER_VARIABLES
    from gate.git.settings import enable_site_packages

    config, policy = state.config, state.policy
    pusher = find_pusher(environ, LAYOUT_PUSHER_VARIABLES[config.layout])

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
        # What is left of the hook's budget for all the server calls, counted from now.
        deadline = Deadline(seconds)
        deadline.remaining()
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
        return 1, server_down_lines(config, verdicts, str(exc), shown, list(exc.advice))
    kept = {keep_checkpoint(git_dir, answer["checkpoint"]) for answer in answers}
    notes = [f"gate: note: {problem}" for problem in sorted(p for p in kept if p)]
    if all(item["state"] == "approved" for answer in answers for item in answer["items"]):
        return 0, signed_off_lines(verdicts, answers) + notes
    return 1, refusal_lines(config, verdicts, answers) + notes


def _run_chained(git_dir: str, stdin: bytes, budget: "Budget | None" = None) -> int:
    """Run the pre-receive hook that was there before gate, with the same input."""
    chained = f"{git_dir}/hooks/{CHAINED_HOOK}"
    if not posix.access(chained, posix.F_OK):
        return 0
    if not posix.access(chained, posix.X_OK):
        print(f"gate: {chained} is not executable; push refused until it is fixed", file=sys.stderr)
        return 1
    import subprocess

    proc = subprocess.Popen([chained], stdin=subprocess.PIPE)
    if budget is not None:
        budget.children.append(proc.pid)
    proc.communicate(stdin)
    return proc.returncode


def main(central: str | None = None) -> int:
    """The hook. ``central``: the central configuration of a server-wide install (the hook
    script passes it), else the repository's gate.toml."""
    environ = environ_of_process()
    git_dir = environ.get("GIT_DIR", ".")
    stdin = sys.stdin.buffer.read()
    prefix = ""
    try:
        artifact = load_artifact(git_dir, config_origin(environ, central))
        state = None
        if artifact is not None and "hook" in artifact:
            hook = artifact["hook"]
        else:  # compiled now, and kept (a repository the hook cannot write compiles each time)
            state = _load_state(git_dir, None, environ, central)
            artifact = load_artifact(git_dir, config_origin(environ, central))
            hook = _hook_settings(state)
        prefix = GITLAB_PREFIX if hook["layout"] == "gitlab" else ""
        budget = Budget(hook["budget"], prefix)
        chained = _run_chained(git_dir, stdin, budget)
        if chained != 0:
            return chained
        agent = agent_push(stdin, environ, git_dir, central, artifact, state)
        verdicts, state = decide(stdin, environ, git_dir, central, artifact, state, agent)
        if verdicts:
            assert state is not None
            # The server calls end first, so that their own message (the server is slow or
            # down) is the one shown, not the budget's.
            margin = min(0.5, budget.seconds / 5)
            left = max(0.05, budget.remaining() - margin)
            code, lines = _ask_server(
                state, environ, verdicts, left, Git(git_dir, environ), git_dir
            )
        else:
            code, lines = 0, []
        if code == 0 and agent is not None:
            agent.remember()
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
        sys.stderr.write("".join(f"{prefix}{line}\n" for line in lines))
    return code


__all__ = ["PUSHER_VARIABLES", "main", "run_pre_receive"]


if __name__ == "__main__":
    sys.exit(main())
