"""Agent commits that landed without sign-off.

The hook should never let one in, but a hook that was not running (removed by the host, a
dispatcher that skipped it, history pushed before gate was installed) lets anything in. So the
server checks what the git side says landed: post-receive's report of each push, and
``gate reconcile``'s walk of the protected refs' whole history. An agent commit on a guarded
path with no approved request for that exact commit in that repository is recorded once as a
``commit.landed_without_signoff`` audit record (which the disclosure report counts) and sent
to webhooks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from gate.server.extensions import db
from gate.server.models import ApprovalRequest, HeldItem, Repository, UnsignedLanding
from gate.server.services import audit, notify
from gate.server.services.actor import Actor
from gate.server.services.holds import repository_named

_CHUNK = 500  # ids per IN (...) query


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _approved(repo: Repository, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(ids):
        found.update(
            db.session.scalars(
                select(HeldItem.key)
                .join(ApprovalRequest, ApprovalRequest.id == HeldItem.request_id)
                .where(
                    HeldItem.repository_id == repo.id,
                    HeldItem.kind == "commit",
                    HeldItem.key.in_(chunk),
                    ApprovalRequest.state == "approved",
                )
            )
        )
    return found


def _known(repo: Repository, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(ids):
        found.update(
            db.session.scalars(
                select(UnsignedLanding.commit_id).where(
                    UnsignedLanding.repository_id == repo.id, UnsignedLanding.commit_id.in_(chunk)
                )
            )
        )
    return found


def check_landed(
    repository: str, commits: list[dict[str, Any]], source: str, actor: Actor
) -> dict[str, Any]:
    """Which of ``commits`` ({id, guards, agents}, agent commits on guarded paths found on
    protected refs) have no approval; each one not recorded before is recorded now (caller
    commits). Returns {unsigned: [ids], recorded: n}."""
    repo = repository_named(repository)
    ids = list(dict.fromkeys(c["id"] for c in commits))
    approved = _approved(repo, ids)
    unsigned = [c for c in commits if c["id"] not in approved]
    known = _known(repo, [c["id"] for c in unsigned])
    recorded = 0
    for commit in unsigned:
        if commit["id"] in known:
            continue
        known.add(commit["id"])
        subject = {
            "repository": repo.name,
            "commit": commit["id"],
            "guards": commit["guards"],
            "agents": commit["agents"],
            "source": source,
        }
        record = audit.append("commit.landed_without_signoff", actor=actor, subject=subject)
        db.session.add(
            UnsignedLanding(
                repository_id=repo.id, commit_id=commit["id"], source=source, audit_seq=record.seq
            )
        )
        notify.enqueue_event(
            "commit.landed_without_signoff",
            {
                "repository": subject,
                "message": f"agent commit {commit['id'][:12]} on guarded paths "
                f"({', '.join(commit['guards'])}) landed in {repo.name} without sign-off",
            },
        )
        recorded += 1
    return {"unsigned": [c["id"] for c in unsigned], "recorded": recorded}


def unsigned_counts() -> dict[str, int]:
    """Per repository name, the agent commits found landed without sign-off."""
    from sqlalchemy import func

    rows = db.session.execute(
        select(Repository.name, func.count(UnsignedLanding.id))
        .join(UnsignedLanding, UnsignedLanding.repository_id == Repository.id)
        .group_by(Repository.name)
    )
    return {name: int(count) for name, count in rows}
