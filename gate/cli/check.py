"""gate check: a dry run of the hook's classification, with no server."""

from __future__ import annotations

from collections.abc import Mapping

from gate.errors import GateError
from gate.git.classify import Verdict, classify
from gate.git.config import load_hook_config
from gate.git.detection import AgentDetector
from gate.git.install import git_dir_of
from gate.git.messages import identity_text, shown_identities
from gate.git.plumbing import Git
from gate.git.policy import load_policy
from gate.git.refs import RefUpdate, decode_ref


def _resolve(git: Git, rev: str) -> str:
    if rev.strip("0") == "":
        return rev
    return (
        git.run(["rev-parse", "--verify", "--end-of-options", f"{rev}^{{object}}"]).decode().strip()
    )


def check(
    repo: str, old: str, new: str, ref: str, pusher: str | None, policy_path: str | None
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
    verdicts = classify(git, policy, [update], AgentDetector(policy.agents, pusher))
    return describe(verdicts, pusher, shown_identities(git, verdicts))


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
