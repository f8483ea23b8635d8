"""Why a commit was taken for an agent's: one record per rule that fired, with its evidence."""

from __future__ import annotations

from gate.git.values import Frozen, _set


class Signal(Frozen):
    """One piece of evidence that a commit was made by an automated agent.

    kind:     where the evidence was found: "pusher", "author", "committer", "trailer",
              "message", "ref", or "provenance" (an agent account pushed the commit
              earlier: gate.git.provenance).
    source:   which rule set fired: "catalog" (built-in), "policy", "config" (the hook's
              settings: unknown_pusher = "agent"), or "memory" (the provenance store).
    agent:    the tool's name for catalog hits (e.g. "Claude Code"), else the policy key.
    rule:     the rule or pattern that matched, as written in the catalog or policy.
    evidence: the exact text that matched (a trailer line, an email, a pusher name).
    """

    __slots__ = _fields = ("kind", "source", "agent", "rule", "evidence")
    kind: str
    source: str
    agent: str
    rule: str
    evidence: str

    def __init__(self, kind: str, source: str, agent: str, rule: str, evidence: str) -> None:
        _set(self, "kind", kind)
        _set(self, "source", source)
        _set(self, "agent", agent)
        _set(self, "rule", rule)
        _set(self, "evidence", evidence)

    def describe(self) -> str:
        return (
            f"{self.kind} {self.evidence!r} matches {self.source} rule {self.rule!r} ({self.agent})"
        )

    def to_dict(self) -> dict[str, str]:
        return self.as_dict()
