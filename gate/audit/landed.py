"""Offline: does every agent commit on guarded paths that a repository's protected refs reach
have a matching approval in a (verified) audit log? Pure functions over audit records; the
repository side (walking a clone) is done by ``gate audit verify --repo``.

A commit's approval is a ``request.approved`` record of the same repository whose ``keys``
hold that exact commit id. The agent commits come from the clone (the commits' own marks,
under the given policy) and from the log's ``push.accepted`` reports (which also know the
commits an authenticated agent pusher pushed), limited to what the protected refs reach.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def repositories(records: Iterable[dict[str, Any]]) -> set[str]:
    return {
        str(r["subject"]["repository"])
        for r in records
        if isinstance(r.get("subject"), dict) and "repository" in r["subject"]
    }


def unsigned_commits(
    records: Iterable[dict[str, Any]],
    repository: str,
    found: Iterable[dict[str, Any]],
    reachable: set[str],
) -> tuple[list[dict[str, Any]], int]:
    """The agent commits ({id, guards, agents}) reachable from the protected refs that have no
    matching approval in ``records``, and how many agent commits were checked. ``found`` are
    those the clone's own marks show; the log's push reports add those it knows."""
    approved: set[str] = set()
    agents: dict[str, dict[str, Any]] = {}
    for record in records:
        subject = record.get("subject") or {}
        if subject.get("repository") != repository:
            continue
        if record["action"] == "request.approved":
            approved.update(subject.get("keys", []))
        elif record["action"] == "push.accepted":
            for commit in subject.get("agent_commits", []):
                agents.setdefault(commit["id"], commit)
    for commit in found:
        agents[commit["id"]] = commit
    checked = [commit for oid, commit in sorted(agents.items()) if oid in reachable]
    return [commit for commit in checked if commit["id"] not in approved], len(checked)
