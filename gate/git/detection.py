"""Decide whether a commit was made by an agent: who pushed it, who wrote it, what it says.

Evidence comes from the policy's own ``[agents]`` globs (the pusher the git server
authenticated being the strongest) and, unless the policy turns it off, from the built-in
catalog of known tools. Everything here is plain text the client controls except the pusher.
"""

from __future__ import annotations

from gate.git.catalog import PatternSet, load_catalog
from gate.git.prefilter import PUSHER_VARIABLES, find_pusher, unknown_pusher_is_agent
from gate.git.signals import Signal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from gate.git.catalog import Catalog
    from gate.git.commits import Commit
    from gate.git.literals import Rule
    from gate.git.policy.model import AgentRules

__all__ = ["PUSHER_VARIABLES", "AgentDetector", "find_pusher", "is_agent"]


def is_agent(signals: Iterable[Signal]) -> bool:
    """True when any evidence other than a branch name fired: a ref alone proves nothing."""
    return any(signal.kind != "ref" for signal in signals)


def _globs(
    key: str, patterns: Iterable[str], *, cache: bool, literals: Mapping[str, Rule] | None
) -> PatternSet[tuple[str, str]]:
    # fnmatch semantics, matched case-insensitively; the payload names the policy key.
    rules = (((key, pattern), pattern) for pattern in patterns)
    return PatternSet(rules, mode="full", cache=cache, literals=literals, kind="fnmatch")


class AgentDetector:
    """All the evidence that a commit is an agent's, from the policy and the built-in catalog."""

    def __init__(
        self,
        rules: AgentRules,
        pusher: str | None,
        catalog: Catalog | None = None,
        unknown_pusher: str = "human",
        looked_for: Sequence[str] = PUSHER_VARIABLES,
        literals: Mapping[str, Rule] | None = None,
    ):
        """``literals``: the required literals of the policy's globs, from the compiled
        settings (gate.git.catalog.PatternSet): then none is compiled before a text may match."""
        self.rules = rules
        self.pusher = pusher
        self.catalog: Catalog | None = None
        if rules.builtin:
            self.catalog = catalog if catalog is not None else load_catalog()
        self._emails = _globs("agents.emails", rules.emails, cache=True, literals=literals)
        self._names = _globs("agents.names", rules.names, cache=True, literals=literals)
        self._trailers = _globs("agents.trailers", rules.trailers, cache=False, literals=literals)
        pushers = _globs("agents.pushers", rules.pushers, cache=False, literals=literals)
        self._globs = (self._emails, self._names, self._trailers, pushers)
        self._pusher_signals = tuple(
            Signal("pusher", "policy", key, rule, text)
            for (key, rule), text in (pushers.match(pusher) if pusher else ())
        )
        if unknown_pusher_is_agent(pusher, unknown_pusher):
            self._pusher_signals = (
                Signal(
                    "pusher",
                    "config",
                    "unknown_pusher",
                    'unknown_pusher = "agent"',
                    f"no authenticated pusher (none of {', '.join(looked_for)} is set)",
                ),
            )

    def keyed_sources(self) -> list[tuple[str, str]]:
        """(pattern_key, regex source) of the policy's globs and the catalog's patterns: what
        the compiled settings keep literals for (gate.git.settings.pattern_literals)."""
        own = [pair for globs in self._globs for pair in globs.keyed_sources()]
        return own + (self.catalog.keyed_sources() if self.catalog is not None else [])

    def pusher_signals(self) -> list[Signal]:
        """Evidence from the authenticated pusher alone (the same for every commit of a push)."""
        return list(self._pusher_signals)

    def signals(self, commit: Commit, ref: str | None = None) -> list[Signal]:
        found = list(self._pusher_signals)
        for kind, person in (("author", commit.author), ("committer", commit.committer)):
            for field, globs in ((person.name, self._names), (person.email, self._emails)):
                for (key, rule), text in globs.match(field):
                    found.append(Signal(kind, "policy", key, rule, text))
        if self._trailers:
            for key, value in commit.marks:
                for (policy_key, rule), text in self._trailers.match(f"{key}: {value}"):
                    found.append(Signal("trailer", "policy", policy_key, rule, text))
        if self.catalog is not None:
            found.extend(self.catalog.match(commit, ref))
        return found
