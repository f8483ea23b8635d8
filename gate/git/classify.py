"""Decide, without any server, what a push would hold and why: the exact stage of the one
push classifier (the hook, ``gate check``).

The first stage (gate.git.prefilter) walks the commits the protected updates bring that no
protected ref already has, once, and keeps those that might be an agent's and might touch a
guarded path, with their changes. Here the detector decides which of those are
an agent's and the guard matcher which paths are guarded, on what the first stage read.
Deleting a protected ref, or force-pushing it so that commits touching guarded paths vanish, is
a guarded change by the pusher, held when the pusher is an agent.
"""

from __future__ import annotations

import time

from gate.errors import GateError
from gate.git.commits import Commit, is_signed, parse_commit
from gate.git.detection import AgentDetector, is_agent
from gate.git.prefilter import GITMODULES, STAND_IN_MODES, first_stage, guard_pathspec
from gate.git.refs import RefUpdate, is_zero
from gate.git.signals import Signal
from gate.git.values import Value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from gate.git.plumbing import Git, PathChange
    from gate.git.policy.model import Policy
    from gate.git.prefilter import FirstStage
    from gate.git.provenance import Remembered
    from gate.git.signing import Registry, SignatureCheck

TRUST_RULE = 'trust = "signed-humans"'


class HeldCommit(Value):
    __slots__ = _fields = ("commit", "signals", "guards", "first_pushed_by")

    def __init__(
        self,
        commit: Commit,
        signals: list[Signal],
        guards: dict[str, list[str]],  # guard name -> matched paths
        first_pushed_by: str | None = None,  # the agent account the provenance store names
    ) -> None:
        self.commit = commit
        self.signals = signals
        self.guards = guards
        self.first_pushed_by = first_pushed_by

    @property
    def key(self) -> str:
        return self.commit.id


class HeldRefChange(Value):
    """A deletion or history rewrite of a protected ref by an agent pusher."""

    __slots__ = _fields = ("update", "reason", "signals", "guards", "removed")

    def __init__(
        self,
        update: RefUpdate,
        reason: str,
        signals: list[Signal],
        guards: dict[str, list[str]],
        removed: list[str] | None = None,
    ) -> None:
        self.update = update
        self.reason = reason
        self.signals = signals
        self.guards = guards
        self.removed = [] if removed is None else removed

    @property
    def key(self) -> str:
        return f"ref-update:{self.update.ref}:{self.update.old}:{self.update.new}"


class Verdict(Value):
    __slots__ = _fields = ("update", "held_commits", "held_change", "inspected")

    def __init__(
        self,
        update: RefUpdate,
        held_commits: list[HeldCommit] | None = None,
        held_change: HeldRefChange | None = None,
        inspected: int = 0,
    ) -> None:
        self.update = update
        self.held_commits = [] if held_commits is None else held_commits
        self.held_change = held_change
        self.inspected = inspected

    @property
    def holds(self) -> bool:
        return bool(self.held_commits) or self.held_change is not None


class Signatures:
    """The signatures of one push's suspects, checked on first need: all signed ones in one
    git call, against the registry ``registry`` returns (which may raise GateError: the
    registry is needed and cannot be had). Unsigned commits need no registry."""

    def __init__(
        self, git: Git, git_dir: str, registry: Callable[[], Registry], now: float | None = None
    ) -> None:
        self.git, self.git_dir, self.registry = git, git_dir, registry
        self.now = time.time() if now is None else now
        self.raws: dict[str, bytes] = {}
        self.checks: dict[str, SignatureCheck] | None = None
        self.failed: GateError | None = None  # the registry could not be had: asked once

    def check(self, oid: str) -> SignatureCheck:
        from gate.git.signing import SignatureCheck, verify_commits

        raw = self.raws[oid]
        if not is_signed(raw):
            return SignatureCheck(oid, "N", "", None)
        if self.failed is not None:
            raise self.failed
        if self.checks is None:
            signed = {o: r for o, r in self.raws.items() if is_signed(r)}
            try:
                self.checks = verify_commits(self.git, self.git_dir, self.registry(), signed)
            except GateError as exc:
                self.failed = exc
                raise
        return self.checks[oid]


def signature_signals(check: SignatureCheck) -> list[Signal]:
    """Evidence from the signature: a registered agent key makes the commit that agent's."""
    key = check.agent_key
    if key is None:
        return []
    verdict = "good" if check.good else f"git's verdict {check.status}"
    return [
        Signal(
            "signature",
            "registry",
            f"agent account {key.account}",
            f"{key.key_type} key {key.fingerprint}",
            f"signed by {key.fingerprint} ({verdict})",
        )
    ]


def classify(
    git: Git,
    policy: Policy,
    updates: Iterable[RefUpdate],
    detector: AgentDetector,
    first: FirstStage | None = None,
    signatures: Signatures | None = None,
) -> list[Verdict]:
    """Classify every update to a protected ref; updates to other refs are not looked at.

    ``first``: what the first stage already read of this push (the hook); without it the
    first stage runs here, letting everything through. ``signatures``: how to check commit
    signatures against the key registry; without it a signature proves nothing, and a
    ``signed-humans`` guard holds every commit that touches it.
    """
    protected = [u for u in updates if policy.is_protected(u.ref)]
    if not protected:
        return []
    pathspec = pathspec_of(policy)
    if first is None:
        first = first_stage(git, protected, policy.protected_refs, pathspec, None, detector.pusher)
    pusher_signals = detector.pusher_signals()
    creating = [u for u in protected if not u.is_delete]
    commits: dict[bytes, Commit] = {}
    raw_objects: dict[bytes, bytes] = {}  # read once, for every suspect, when first needed
    held: dict[tuple[bytes, str], HeldCommit | None] = {}
    matched: dict[bytes, dict[str, list[str]] | None] = {}  # id -> _guards_unread
    verdicts = []
    for update in protected:
        verdict = Verdict(update)
        if not update.is_delete:
            if len(creating) == 1:
                verdict.inspected = first.count
                members: Iterable[bytes] = first.suspects
            else:  # which update brings which commit: its ids alone (the records are read)
                ids = _range_ids(git, policy, protected, update)
                verdict.inspected = len(ids)
                members = [oid for oid in first.suspects if oid in ids]
            for oid in members:
                key = (oid, update.ref)
                if oid not in matched:
                    matched[oid] = _guards_unread(policy, first, oid)
                if matched[oid] == {}:
                    held[key] = None  # no guard matches: nothing could hold it, unread
                if key not in held:
                    if oid not in commits:
                        raw = raw_objects.get(oid)
                        if raw is None:
                            raw_objects.update(git.raw_commits(first.suspects))
                            raw = raw_objects[oid]
                        commits[oid] = parse_commit(oid.decode("ascii"), raw)
                        if signatures is not None:
                            signatures.raws[oid.decode("ascii")] = raw
                    held[key] = _held(
                        git,
                        policy,
                        detector,
                        commits[oid],
                        update,
                        first,
                        oid,
                        signatures,
                        matched[oid],
                    )
                if held[key] is not None:
                    verdict.held_commits.append(held[key])  # type: ignore[arg-type]
        if pusher_signals and not update.is_create:
            verdict.held_change = _removal(git, policy, update, pusher_signals)
        verdicts.append(verdict)
    return verdicts


def pathspec_of(policy: Policy) -> list[str]:
    """The guards' literal directory prefixes (empty: no pruning)."""
    return guard_pathspec(pattern for guard in policy.guards for pattern in guard.paths)


def _range_ids(
    git: Git, policy: Policy, protected: list[RefUpdate], update: RefUpdate
) -> set[bytes]:
    from gate.git.prefilter import range_stops

    options, stops = range_stops(git, policy.protected_refs, protected)
    return {oid.encode("ascii") for oid in git.commit_ids([update.new], stops, options)}


def _guards_unread(policy: Policy, first: FirstStage, oid: bytes) -> dict[str, list[str]] | None:
    """The guards the suspect ``oid``'s changes touch (guards_of_changes), told without
    reading its commit, or None when that cannot be done so. No guard: nothing can hold it
    (_held asks the guards before it holds anything), so it is not read at all; the
    exact-stage case (``notes/x.ckpt.txt``, which the prefilter of ``*.ckpt`` cannot rule
    out) then runs no ``git cat-file``. None, and the commit is read as before, when reading
    it could fail (parse_commit's one error needs a declared encoding), when it changes
    .gitmodules (telling needs git), or when the matcher refuses a pattern (_held says so)."""
    if first.encoded is None or oid in first.encoded:
        return None
    changes = first.suspects[oid]
    if any(change.path == GITMODULES for change in changes):
        return None
    stand_ins = [change.path for change in changes if change.new_mode in STAND_IN_MODES]
    try:
        return policy.guards_for_paths((change.path for change in changes), stand_ins)
    except GateError:
        return None


def _held(
    git: Git,
    policy: Policy,
    detector: AgentDetector,
    commit: Commit,
    update: RefUpdate,
    first: FirstStage,
    oid: bytes,
    signatures: Signatures | None = None,
    matched: dict[str, list[str]] | None = None,
) -> HeldCommit | None:
    """``matched``: the guards of the commit's changes when already known (_guards_unread)."""

    def guards_of() -> dict[str, list[str]]:
        return matched if matched is not None else guards_of_changes(git, policy, changes)

    signals = detector.signals(commit, update.ref)
    remembered = first.remembered.get(oid)
    if remembered is not None:
        signals.append(provenance_signal(remembered))  # type: ignore[arg-type]
    changes = first.suspects[oid]
    trusting = [guard for guard in policy.guards if guard.signed_humans]
    signed = signatures is not None and is_signed(signatures.raws[commit.id])
    if not is_agent(signals) and not signed and not trusting:
        # only a signature, a signed-humans guard or the lost memory could hold it
        if first.memory_error is not None and guards_of():
            raise first.memory_error
        return None
    guards = guards_of()
    if not guards:
        return None
    first_pushed_by = remembered.pusher if remembered is not None else None  # type: ignore[attr-defined]
    check = None
    if signatures is not None and is_agent(signals) and signed:
        # Held anyway: the key only adds evidence, when the registry can be had.
        try:  # noqa: SIM105 - contextlib would be an import on the hook's path
            signals += signature_signals(signatures.check(commit.id))
        except GateError:
            pass
    elif signatures is not None and not is_agent(signals):
        check = signatures.check(commit.id)
        signals += signature_signals(check)
    if is_agent(signals):
        return HeldCommit(commit, signals, guards, first_pushed_by)
    if first.memory_error is not None:
        raise first.memory_error  # it may be an agent's commit that gate no longer remembers
    held: dict[str, list[str]] = {}
    reasons: list[str] = []
    for guard in trusting:
        if guard.name not in guards:
            continue
        if check is None:
            reason: str | None = "no signature could be checked (no key registry)"
        else:
            reason = check.why_not_human(signatures.now, guard.require_touch, guard.require_pin)  # type: ignore[union-attr]
        if reason is not None:
            held[guard.name] = guards[guard.name]
            reasons.append(f"{reason} (guard {guard.name})")
    if not held:
        return None
    trust = [Signal("signature", "policy", "trust", TRUST_RULE, reason) for reason in reasons]
    return HeldCommit(commit, trust, held)


def provenance_signal(remembered: Remembered) -> Signal:
    """The evidence that an agent account pushed a commit before (gate.git.provenance)."""
    return Signal(
        "provenance",
        "memory",
        remembered.account(),
        "first pushed by an agent account",
        remembered.evidence(),
    )


def guards_of_changes(git: Git, policy: Policy, changes: list[PathChange]) -> dict[str, list[str]]:
    """The guards a commit's changes touch, and the paths by which: the one rule.

    Every changed path counts as itself (Guard.matches: as written, and folded as a
    case-insensitive, normalising checkout sees it). A symbolic link or a submodule stands in
    for a directory whose contents come from elsewhere, so adding or changing one also counts
    for every path below it (Guard.covers); so does a change to ``.gitmodules`` for each
    submodule whose entry it changes (its URL decides what code the submodule's path holds).
    """
    stand_ins = [change.path for change in changes if change.new_mode in STAND_IN_MODES]
    for change in changes:
        if change.path == GITMODULES:
            stand_ins += _changed_submodule_paths(git, change)
    return policy.guards_for_paths((change.path for change in changes), stand_ins)


def _changed_submodule_paths(git: Git, change: PathChange) -> list[str]:
    """The paths of the submodules whose ``.gitmodules`` entries ``change`` adds, removes or
    alters, read by git's own config parser (an unparsable file is an error: fail closed)."""
    old, new = (
        {} if is_zero(blob) else _submodule_sections(git.config_blob(blob))
        for blob in (change.old_id, change.new_id)
    )
    paths: set[str] = set()
    for name in old.keys() | new.keys():
        if old.get(name) != new.get(name):
            for entries in (old.get(name, []), new.get(name, [])):
                paths.update(value for key, value in entries if key == "path")
    return sorted(paths)


def _submodule_sections(entries: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    for key, value in entries:
        if key.startswith("submodule."):
            name, _, variable = key[len("submodule.") :].rpartition(".")
            if name:
                sections.setdefault(name, []).append((variable, value))
    return sections


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
    for _, changes in git.changed_paths(removed, pathspec_of(policy)):
        for name, paths in guards_of_changes(git, policy, changes).items():
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
