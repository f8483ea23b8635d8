"""The policy objects: protected refs, guards and agent rules, as checked by gate.git.policy.check.

Import cost matters: the pre-receive hook imports this package on every push, and most pushes
only need ``Policy.is_protected``. Guards match with ``GuardMatcher`` (gate.git.policy.paths),
which needs neither ``pathspec`` (about 50 ms to import) nor a regex engine that can backtrack;
``pathspec`` is imported only to translate guard patterns into regexes for the fast path's
literals (``Guard.rules``), and the hook caches that translation (gate.git.settings).
"""

from __future__ import annotations

from gate.git.policy.paths import (
    GuardMatcher,
    compile_path_patterns,
    folded_patterns,
    guard_rules,
)
from gate.git.prefilter import fold_path
from gate.git.refs import is_protected as ref_is_protected
from gate.git.values import Frozen, _set

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    import pathspec

    from gate.git.policy.paths import GuardRules

AGENT_GLOB_KEYS = ("pushers", "emails", "names", "trailers")
# A guard's trust: "evidence" (the default) holds the commits agent evidence marks;
# "signed-humans" holds every commit that touches it unless a registered, unrevoked human key
# validly signed it (gate.git.signing), whatever the marks and the pusher say.
TRUST_EVIDENCE, TRUST_SIGNED_HUMANS = "evidence", "signed-humans"
TRUST_VALUES = (TRUST_EVIDENCE, TRUST_SIGNED_HUMANS)
# A guard's approval step-up: "password" (the default) re-enters the reviewer's password;
# "webauthn" needs an assertion by the reviewer's enrolled security key over the approval
# statement (gate.server.services.webauthn), which gate audit verify checks offline.
APPROVAL_PASSWORD, APPROVAL_WEBAUTHN = "password", "webauthn"
APPROVAL_VALUES = (APPROVAL_PASSWORD, APPROVAL_WEBAUTHN)


class Guard(Frozen):
    """A named set of gitignore-style path patterns whose changes need ``approvals`` reviewers."""

    _fields = ("name", "paths", "approvals", "trust", "require_touch", "require_pin", "approval")
    # the fields, then what is computed from them on first use
    __slots__ = (*_fields, "_spec_", "_matcher_", "_folded_matcher_", "_rules", "_folded_rules")
    name: str
    paths: tuple[str, ...]
    approvals: int
    trust: str
    require_touch: bool  # signed-humans: only FIDO signatures with user presence
    require_pin: bool  # ... and with user verification (PIN or biometric)
    approval: str
    _spec_: pathspec.GitIgnoreSpec | None
    _matcher_: GuardMatcher | None
    _folded_matcher_: GuardMatcher | None
    _rules: GuardRules | None
    _folded_rules: GuardRules | None

    def __init__(
        self,
        name: str,
        paths: Iterable[str],
        approvals: int = 1,
        trust: str = TRUST_EVIDENCE,
        require_touch: bool = False,
        require_pin: bool = False,
        approval: str = APPROVAL_PASSWORD,
    ) -> None:
        _set(self, "name", name)
        _set(self, "paths", tuple(paths))
        _set(self, "approvals", approvals)
        _set(self, "trust", trust)
        _set(self, "require_touch", require_touch)
        _set(self, "require_pin", require_pin)
        _set(self, "approval", approval)
        for cache in ("_spec_", "_matcher_", "_folded_matcher_", "_rules", "_folded_rules"):
            _set(self, cache, None)

    @property
    def signed_humans(self) -> bool:
        return self.trust == TRUST_SIGNED_HUMANS

    @property
    def _spec(self) -> pathspec.GitIgnoreSpec:
        spec = self._spec_
        if spec is None:
            spec = compile_path_patterns(self.paths, source=f"guard {self.name!r}")
            _set(self, "_spec_", spec)
        return spec

    @property
    def _matcher(self) -> GuardMatcher:
        matcher = self._matcher_
        if matcher is None:
            matcher = GuardMatcher(self.paths, source=f"guard {self.name!r}")
            _set(self, "_matcher_", matcher)
        return matcher

    @property
    def _folded_matcher(self) -> GuardMatcher:
        matcher = self._folded_matcher_
        if matcher is None:
            matcher = GuardMatcher(folded_patterns(self.paths), source=f"guard {self.name!r}")
            _set(self, "_folded_matcher_", matcher)
        return matcher

    @property
    def rules(self) -> GuardRules:
        """pathspec's regexes for these patterns: the fast path takes its literals from them."""
        rules = self._rules
        if rules is None:
            rules = guard_rules(self.paths, source=f"guard {self.name!r}")
            _set(self, "_rules", rules)
        return rules

    @property
    def folded_rules(self) -> GuardRules:
        """The same for the folded patterns (Guard.matches tries folded names too)."""
        rules = self._folded_rules
        if rules is None:
            rules = guard_rules(folded_patterns(self.paths), source=f"guard {self.name!r}")
            _set(self, "_folded_rules", rules)
        return rules

    def use_rules(self, rules: GuardRules) -> None:
        """Take ``rules`` translated earlier by ``guard_rules`` (the hook's cache)."""
        _set(self, "_rules", tuple((str(source), bool(include)) for source, include in rules))

    def matches(self, path: str) -> bool:
        """Whether the repository-relative ``path`` is guarded (gitignore semantics, with '!'):
        as written, or folded as a case-insensitive, normalising checkout would see it."""
        return self._matcher.matches(path) or self._folded_matcher.matches(fold_path(path))

    def covers(self, path: str) -> bool:
        """Whether ``path``, standing in for a directory (a symbolic link or a submodule, whose
        contents come from elsewhere), is guarded or could hold guarded paths below it."""
        return (
            self.matches(path)
            or self._matcher.reaches(path)
            or self._folded_matcher.reaches(fold_path(path))
        )

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "name": self.name,
            "paths": list(self.paths),
            "approvals": self.approvals,
        }
        if self.signed_humans:  # only when set: older records and caches read the same
            doc |= {
                "trust": self.trust,
                "require_touch": self.require_touch,
                "require_pin": self.require_pin,
            }
        if self.approval != APPROVAL_PASSWORD:
            doc["approval"] = self.approval
        return doc


class AgentRules(Frozen):
    """Policy rules that mark a commit as an agent's, on top of the built-in catalog.

    Pusher, email and name globs are case-insensitive fnmatch patterns over the whole value;
    trailer globs match the trailer written as "Key: value", also case-insensitively.
    """

    __slots__ = _fields = ("builtin", "pushers", "emails", "names", "trailers", "owners")
    builtin: bool
    pushers: tuple[str, ...]
    emails: tuple[str, ...]
    names: tuple[str, ...]
    trailers: tuple[str, ...]
    owners: tuple[tuple[str, str], ...]  # (agent pusher name, operator's email)

    def __init__(
        self,
        builtin: bool = True,
        pushers: Iterable[str] = (),
        emails: Iterable[str] = (),
        names: Iterable[str] = (),
        trailers: Iterable[str] = (),
        owners: Iterable[tuple[str, str]] = (),
    ) -> None:
        _set(self, "builtin", builtin)
        _set(self, "pushers", tuple(pushers))
        _set(self, "emails", tuple(emails))
        _set(self, "names", tuple(names))
        _set(self, "trailers", tuple(trailers))
        _set(self, "owners", tuple((k, v) for k, v in owners))

    def owner_of(self, pusher: str | None) -> str | None:
        """The email of the human who operates the agent account ``pusher``, if the policy says."""
        if not pusher:
            return None
        folded = pusher.casefold()
        return next((email for name, email in self.owners if name.casefold() == folded), None)

    def to_dict(self) -> dict[str, Any]:
        return (
            {"builtin": self.builtin}
            | {key: list(getattr(self, key)) for key in AGENT_GLOB_KEYS}
            | {"owners": dict(self.owners)}
        )


class Policy(Frozen):
    """A checked policy file. ``sha256`` is the hash of the file's bytes, for the audit log."""

    __slots__ = _fields = ("protected_refs", "guards", "agents", "sha256", "source")
    protected_refs: tuple[str, ...]
    guards: tuple[Guard, ...]
    agents: AgentRules
    sha256: str
    source: str

    def __init__(
        self,
        protected_refs: Iterable[str],
        guards: Iterable[Guard],
        agents: AgentRules,
        sha256: str,
        source: str = "<policy>",
    ) -> None:
        _set(self, "protected_refs", tuple(protected_refs))
        _set(self, "guards", tuple(guards))
        _set(self, "agents", agents)
        _set(self, "sha256", sha256)
        _set(self, "source", source)

    def is_protected(self, ref: str) -> bool:
        """Whether pushes to ``ref`` are checked ('*' within one component, '**' across)."""
        return ref_is_protected(ref, self.protected_refs)

    @property
    def signed_humans(self) -> bool:
        """Whether any guard trusts only signatures by registered human keys."""
        return any(guard.signed_humans for guard in self.guards)

    def guards_for(self, path: str) -> list[Guard]:
        """The guards whose patterns match ``path``, in policy order."""
        return [guard for guard in self.guards if guard.matches(path)]

    def guards_for_paths(
        self, paths: Iterable[str], stand_ins: Iterable[str] = ()
    ) -> dict[str, list[str]]:
        """Guard name -> the given paths it matches (sorted, deduplicated); unmatched left out.

        ``stand_ins``: paths of symbolic links and submodules, which count for what could lie
        below them too (Guard.covers).
        """
        unique, links = sorted(set(paths)), sorted(set(stand_ins))
        result: dict[str, list[str]] = {}
        for guard in self.guards:
            matched = {path for path in unique if guard.matches(path)}
            matched.update(path for path in links if guard.covers(path))
            if matched:
                result[guard.name] = sorted(matched)
        return result

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy, for the audit log and the API."""
        return {
            "source": self.source,
            "sha256": self.sha256,
            "protected_refs": list(self.protected_refs),
            "guards": [guard.to_dict() for guard in self.guards],
            "agents": self.agents.to_dict(),
        }


def build_policy(doc: dict[str, Any], sha256: str, source: str) -> Policy:
    """A Policy from a document the checker found no problem in (or the hook's cache of one)."""
    agents = doc.get("agents", {})
    return Policy(
        protected_refs=tuple(doc["protected_refs"]),
        guards=tuple(
            Guard(
                name=guard["name"],
                paths=tuple(guard["paths"]),
                approvals=guard.get("approvals", 1),
                trust=guard.get("trust", TRUST_EVIDENCE),
                require_touch=guard.get("require_touch", False),
                require_pin=guard.get("require_pin", False),
                approval=guard.get("approval", APPROVAL_PASSWORD),
            )
            for guard in doc["guard"]
        ),
        agents=AgentRules(
            builtin=agents.get("builtin", True),
            **{key: tuple(agents.get(key, ())) for key in AGENT_GLOB_KEYS},
            owners=tuple(agents.get("owners", {}).items()),
        ),
        sha256=sha256,
        source=source,
    )
