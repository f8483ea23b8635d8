"""Write the fast path's summary of the policy and the catalog (see gate.git.fastpath).

Called where the hook's cache is written (gate.git.settings), on the slow path: it may import
``re``. A pattern set with no usable literal turns that part of the fast path off (``disabled``, or
no ``guard_rules``); the fast path then hands those pushes to the full path.
"""

from __future__ import annotations

import fnmatch
import os
from typing import TYPE_CHECKING, Any

from gate.errors import GateError
from gate.git.fastpath import SUMMARY_KEY, SUMMARY_NAME, write_keyed
from gate.git.literals import commit_rules, path_rules

if TYPE_CHECKING:
    from gate.git.catalog import Catalog
    from gate.git.policy import Policy


def build_summary(
    sources: list[tuple[str, bytes]], policy: Policy, catalog: Catalog | None
) -> dict[str, Any]:
    """The summary; with ``disabled`` set when agent evidence has no usable literals."""
    rules = policy.agents
    agent_sources = [fnmatch.translate(p) for p in (*rules.emails, *rules.names, *rules.trailers)]
    if catalog is not None:
        agent_sources += catalog.evidence_sources
    agent_rules = commit_rules(agent_sources)
    pusher_rules = commit_rules(fnmatch.translate(p) for p in rules.pushers)
    if agent_rules is None or pusher_rules is None:
        return {"key": SUMMARY_KEY, "sources": sources, "disabled": True}
    try:
        include_rules = [
            source for guard in policy.guards for source, include in guard.rules if include
        ]
        guard_rules = path_rules(include_rules)
    except GateError:  # pathspec refused a pattern: the full path reports it
        guard_rules = None
    return {
        "key": SUMMARY_KEY,
        "sources": sources,
        "protected_refs": list(policy.protected_refs),
        "pusher_rules": pusher_rules,
        "agent_rules": agent_rules,
        "guard_rules": guard_rules,
    }


def store_summary(git_dir: str, summary: dict[str, Any]) -> None:
    """Write the summary; a summary that cannot be written is not an error."""
    write_keyed(os.path.join(git_dir, SUMMARY_NAME), summary)
