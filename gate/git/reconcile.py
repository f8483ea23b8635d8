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
from gate.git.policy import Policy, load_policy
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
    walk = walk_protected_refs(git_dir, environ, load_policy(config.policy))
    return config, walk.refs, len(walk.reachable), walk.agent_commits


@dataclass
class Walk:
    refs: list[str]  # the protected refs, as the server names them
    reachable: set[str]  # every commit they reach
    agent_commits: list[dict[str, Any]]  # {id, guards, agents}: by the commits' own marks


def walk_protected_refs(
    git_dir: str, environ: Mapping[str, str], policy: Policy, clone: bool = False
) -> Walk:
    """Every commit the protected refs reach, and the agent commits on guarded paths among
    them. ``clone``: maybe a working clone, whose ``refs/remotes/origin/X`` are the server's
    ``refs/heads/X`` (its tags are the server's tags); a bare or mirror clone has the
    server's own refs."""
    git = Git(git_dir, environ)
    refs = git.refs()
    clone = clone and any(name.startswith("refs/remotes/origin/") for name in refs)
    tips: dict[str, str] = {}
    for name, oid in sorted(refs.items()):
        if clone and name.startswith("refs/remotes/origin/"):
            name = "refs/heads/" + name.removeprefix("refs/remotes/origin/")
        elif clone and name.startswith("refs/heads/"):
            continue  # the clone's own branches are not the server's
        if policy.is_protected(name):
            tips.setdefault(name, oid)
    ids: dict[str, str] = {}  # id -> the first protected ref it is reachable from
    walked: list[str] = []
    for ref, tip in tips.items():
        for oid in git.commit_ids([tip], walked):
            ids.setdefault(oid, ref)
        walked.append(tip)
    detector = AgentDetector(policy.agents, None)
    listed = [
        {"id": oid, "guards": guards, "agents": agents}
        # On the host, commits an agent account first pushed are an agent's (gate.git.provenance).
        for oid, guards, agents, _ in guarded_commits(
            git, policy, detector, ids, git_dir=None if clone else git_dir
        )
        if agents
    ]
    return Walk(list(tips), set(ids), listed)


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
