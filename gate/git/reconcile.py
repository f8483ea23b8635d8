"""gate reconcile: walk the protected refs' whole history and ask the server which agent
commits on guarded paths have no approval ("landed without sign-off").

post-receive checks each push as it lands; this covers what it never saw: history pushed
before gate was installed, while its hooks were missing, or through a host dispatcher that
skipped them. From history alone only the commits' own marks (trailers, identities, the
catalog) show an agent: the authenticated pusher of an old push is not in the repository.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gate import wire
from gate.errors import GateError
from gate.git.config import HookConfig, load_hook_config
from gate.git.detection import AgentDetector
from gate.git.plumbing import Git
from gate.git.policy import load_policy
from gate.git.post_receive import guarded_commits

BATCH = 5000  # commits per request, well under wire.MAX_ITEMS


@dataclass
class Reconciled:
    repository: str
    refs: list[str]
    commits: int  # reachable from the protected refs
    agent_commits: list[dict[str, Any]]  # {id, guards, agents} on guarded paths
    unsigned: list[str]  # of those, the ids the server has no approval for
    recorded: int  # of those, how many the server had not recorded before


def agent_commits_on_protected_refs(
    git_dir: str, environ: Mapping[str, str]
) -> tuple[HookConfig, list[str], int, list[dict[str, Any]]]:
    config = load_hook_config(git_dir)
    policy = load_policy(config.policy)
    git = Git(git_dir, environ)
    tips = {name: oid for name, oid in sorted(git.refs().items()) if policy.is_protected(name)}
    ids: dict[str, str] = {}  # id -> the first protected ref it is reachable from
    walked: list[str] = []
    for ref, tip in tips.items():
        for oid in git.commit_ids([tip], walked):
            ids.setdefault(oid, ref)
        walked.append(tip)
    detector = AgentDetector(policy.agents, None)
    listed = [
        {"id": oid, "guards": guards, "agents": agents}
        for oid, guards, agents, _ in guarded_commits(git, policy, detector, ids)
        if agents
    ]
    return config, list(tips), len(ids), listed


def reconcile(git_dir: str, environ: Mapping[str, str]) -> Reconciled:
    from gate.git.client import post

    config, refs, count, listed = agent_commits_on_protected_refs(git_dir, environ)
    unsigned: list[str] = []
    recorded = 0
    for start in range(0, max(len(listed), 1), BATCH):
        batch = listed[start : start + BATCH]
        body = wire.reconcile_request(
            repository=config.repository, refs=refs, commits=batch, truncated=False
        )
        answer = post(config, wire.RECONCILE_PATH, body)
        try:
            parsed = wire.parse_reconcile_answer(answer, [c["id"] for c in batch])
        except wire.WireError as exc:
            raise GateError(
                f"the gate server at {config.server} sent an answer gate cannot use ({exc})"
            ) from None
        unsigned.extend(parsed["unsigned"])
        recorded += parsed["recorded"]
    return Reconciled(config.repository, refs, count, listed, unsigned, recorded)
