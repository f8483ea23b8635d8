"""Decide, without any server, what a push would hold and why.

For each update of a protected ref: the commits it brings that no protected ref already has are
checked for agent signals; the agent commits are checked against the guards. Deleting a protected
ref, or force-pushing it so that commits touching guarded paths vanish, is a guarded change by
the pusher, held when the pusher is an agent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from gate.git.commits import Commit
from gate.git.detection import AgentDetector, is_agent
from gate.git.plumbing import Git
from gate.git.policy import Policy
from gate.git.refs import RefUpdate
from gate.git.signals import Signal


@dataclass
class HeldCommit:
    commit: Commit
    signals: list[Signal]
    guards: dict[str, list[str]]  # guard name -> matched paths

    @property
    def key(self) -> str:
        return self.commit.id


@dataclass
class HeldRefChange:
    """A deletion or history rewrite of a protected ref by an agent pusher."""

    update: RefUpdate
    reason: str
    signals: list[Signal]
    guards: dict[str, list[str]]
    removed: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"ref-update:{self.update.ref}:{self.update.old}:{self.update.new}"


@dataclass
class Verdict:
    update: RefUpdate
    held_commits: list[HeldCommit] = field(default_factory=list)
    held_change: HeldRefChange | None = None
    inspected: int = 0

    @property
    def holds(self) -> bool:
        return bool(self.held_commits) or self.held_change is not None


def classify(
    git: Git, policy: Policy, updates: Iterable[RefUpdate], detector: AgentDetector
) -> list[Verdict]:
    """Classify every update to a protected ref; updates to other refs are not looked at."""
    protected = [u for u in updates if policy.is_protected(u.ref)]
    if not protected:
        return []
    existing = git.refs()
    protected_tips = sorted({oid for name, oid in existing.items() if policy.is_protected(name)})
    pusher_signals = detector.pusher_signals()
    seen: dict[str, HeldCommit | None] = {}
    verdicts = []
    for update in protected:
        verdict = Verdict(update)
        if not update.is_delete:
            _classify_new_commits(git, policy, detector, update, protected_tips, seen, verdict)
        if pusher_signals and not update.is_create:
            verdict.held_change = _removal(git, policy, update, pusher_signals)
        verdicts.append(verdict)
    return verdicts


def _classify_new_commits(
    git: Git,
    policy: Policy,
    detector: AgentDetector,
    update: RefUpdate,
    protected_tips: list[str],
    seen: dict[str, HeldCommit | None],
    verdict: Verdict,
) -> None:
    exclude = [*protected_tips, *([] if update.is_create else [update.old])]
    agent_commits: dict[str, tuple[Commit, list[Signal]]] = {}
    for commit in git.commits([update.new], exclude):
        verdict.inspected += 1
        if commit.id in seen:
            if seen[commit.id] is not None:
                verdict.held_commits.append(seen[commit.id])  # type: ignore[arg-type]
            continue
        signals = detector.signals(commit, update.ref)
        if is_agent(signals):
            agent_commits[commit.id] = (commit, signals)
        else:
            seen[commit.id] = None
    if not agent_commits:
        return
    for oid, changes in git.changed_paths(agent_commits):
        guards = policy.guards_for_paths(change.path for change in changes)
        commit, signals = agent_commits[oid]
        held = HeldCommit(commit, signals, guards) if guards else None
        seen[oid] = held
        if held is not None:
            verdict.held_commits.append(held)
    for oid in agent_commits:
        seen.setdefault(oid, None)  # commits with no changes at all


def _removal(
    git: Git, policy: Policy, update: RefUpdate, pusher_signals: list[Signal]
) -> HeldRefChange | None:
    if update.is_delete:
        every_guard: dict[str, list[str]] = {guard.name: [] for guard in policy.guards}
        return HeldRefChange(update, "deletes a protected ref", pusher_signals, every_guard)
    if git.is_ancestor(update.old, update.new):
        return None
    removed = git.commit_ids([update.old], [update.new])
    guards: dict[str, set[str]] = {}
    for _, changes in git.changed_paths(removed):
        for name, paths in policy.guards_for_paths(c.path for c in changes).items():
            guards.setdefault(name, set()).update(paths)
    if not guards:
        return None
    return HeldRefChange(
        update,
        f"force push removes {len(removed)} commit(s) that touch guarded paths",
        pusher_signals,
        {name: sorted(paths) for name, paths in guards.items()},
        removed,
    )
