"""gate check: a dry run of the hook's classification, with no server."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from gate.errors import GateError
from gate.git.classify import Signatures, Verdict, classify
from gate.git.config import load_hook_config
from gate.git.detection import AgentDetector
from gate.git.layouts import git_dir_of
from gate.git.messages import identity_text, shown_identities
from gate.git.plumbing import Git
from gate.git.policy import load_policy
from gate.git.refs import RefUpdate, decode_ref
from gate.git.signing import KEYS_FILE, Registry, load_registry


def _resolve(git: Git, rev: str) -> str:
    if rev.strip("0") == "":
        return rev
    return (
        git.run(["rev-parse", "--verify", "--end-of-options", f"{rev}^{{object}}"]).decode().strip()
    )


@contextmanager
def history_view(git: Git, git_dir: Path, ref: str, old: str) -> Iterator[Git]:
    """The repository's objects with no refs but ``ref`` at ``old``: the classifier then
    inspects OLD..NEW as though none of it were on a protected ref yet, which is what a push
    of that history would be judged by."""
    object_format = git.run(["rev-parse", "--show-object-format"]).decode().strip()
    objects = git.run(["rev-parse", "--git-path", "objects"]).decode().strip()
    with tempfile.TemporaryDirectory(prefix="gate-check-") as scratch:
        view = Git(scratch)
        view.run(["init", "--quiet", "--bare", f"--object-format={object_format}", scratch])
        alternates = Path(scratch) / "objects" / "info" / "alternates"
        alternates.write_text(str((git_dir / objects).resolve()) + "\n", encoding="utf-8")
        if old.strip("0"):
            view.run(["update-ref", "--end-of-options", ref, old])
        yield view


def _kept_registry(repo: str, git_dir: str) -> Registry:
    """gate check asks no server: the hook's copy of the key registry, or a clear error."""
    kept = load_registry(git_dir)
    if kept is None:
        raise GateError(
            f"signed commits need the signing-key registry, and {repo} has no copy of it "
            f"({KEYS_FILE}; the hook keeps one after each push)"
        )
    return kept


def check(
    repo: str,
    old: str,
    new: str,
    ref: str,
    pusher: str | None,
    policy_path: str | None,
    history: bool = False,
) -> tuple[int, list[str]]:
    git_dir = git_dir_of(repo)
    if policy_path is None:
        try:
            policy_path = load_hook_config(git_dir).policy
        except GateError:
            raise GateError(f"{repo} has no gate hook installed; pass --policy FILE") from None
    policy = load_policy(policy_path)
    git = Git(str(git_dir))
    ref = decode_ref(ref.encode("utf-8", "surrogateescape"))  # as the hook decodes its stdin
    update = RefUpdate(_resolve(git, old), _resolve(git, new), ref)
    if not policy.is_protected(ref):
        return 0, [f"{ref} is not a protected ref: the push would pass untouched."]
    detector = AgentDetector(policy.agents, pusher)
    signatures = Signatures(git, str(git_dir), lambda: _kept_registry(repo, str(git_dir)))
    if not history:
        verdicts = classify(git, policy, [update], detector, None, signatures)
        code, lines = describe(verdicts, pusher, shown_identities(git, verdicts))
        if update.old != update.new and not any(v.inspected for v in verdicts):
            lines.append(
                "(commits a protected ref already has are never inspected again; --history "
                "judges them as though they were being pushed now)"
            )
        return code, lines
    with history_view(git, Path(git_dir), ref, update.old) as view:
        signatures.git = view
        verdicts = classify(view, policy, [update], detector, None, signatures)
        code, lines = describe(verdicts, pusher, shown_identities(view, verdicts))
    return code, [
        f"history of {ref}: {update.old[:12]}..{update.new[:12]} judged as though no protected "
        "ref had any of it yet",
        *lines,
    ]


def describe(
    verdicts: list[Verdict], pusher: str | None, shown: Mapping[str, str]
) -> tuple[int, list[str]]:
    """``shown``: identities as the repository's .mailmap displays them (shown_identities)."""
    lines: list[str] = []
    held = 0
    for verdict in verdicts:
        lines.append(f"{verdict.update}: {verdict.inspected} new commit(s) inspected")
        for item in verdict.held_commits:
            held += 1
            lines.append(f"  HOLD {item.commit.id} {item.commit.summary}")
            lines.append(f"       {identity_text(item.commit, shown)}")
            for guard, paths in sorted(item.guards.items()):
                lines.append(
                    f"       guard {guard}: {', '.join(paths[:10])}"
                    + (" ..." if len(paths) > 10 else "")
                )
            for signal in item.signals:
                lines.append(f"       signal: {signal.describe()}")
        if verdict.held_change is not None:
            held += 1
            lines.append(f"  HOLD ref change by pusher {pusher!r}: {verdict.held_change.reason}")
    lines.append(
        f"{held} change(s) would be held for sign-off." if held else "Nothing would be held."
    )
    return (1 if held else 0), lines
