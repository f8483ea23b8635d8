"""What a superseding request changed since the requests it superseded were approved.

When a push supersedes a request that reviewers had approved, their approvals do not carry
over (the new request binds new content), but most of its commits are often the ones they
read: the same commit (same id, same verified content), or the same change rebased (another
commit id, the same ``git patch-id --stable``, gate.server.patchid). Listing which lets the
reviewer re-review only what changed. Read-only; reads the old items' ids and hashes only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from gate.server.extensions import db
from gate.server.models import ApprovalRequest, Decision, HeldItem, User

SAME_COMMIT = "same commit"
SAME_CHANGE = "same change"  # rebased: another commit id, the same patch id
CHANGED = "changed"


@dataclass
class Comparison:
    """One superseded request that had approvals, and how each new item relates to it."""

    request_id: int
    approved_by: list[str]
    status: dict[str, str] = field(default_factory=dict)  # new item key -> one of the above
    matched: dict[str, str] = field(default_factory=dict)  # new key -> the old commit's key

    def count(self, status: str) -> int:
        return sum(1 for value in self.status.values() if value == status)


def compare_with_superseded(request: ApprovalRequest) -> list[Comparison]:
    """For each request this one superseded that had approvals (standing ones when it was
    superseded, or withdrawn since), which of this request's commits are unchanged."""
    approvals: dict[int, list[str]] = {}
    for request_id, name in db.session.execute(
        select(ApprovalRequest.id, User.username)
        .join(Decision, Decision.request_id == ApprovalRequest.id)
        .join(User, User.id == Decision.reviewer_id)
        .where(ApprovalRequest.superseded_by_id == request.id, Decision.verdict == "approve")
        .order_by(ApprovalRequest.id, Decision.id)
    ):
        names = approvals.setdefault(request_id, [])
        if name not in names:
            names.append(name)
    if not approvals:
        return []
    old_items: dict[int, list[tuple[str, str | None, str | None]]] = {}
    for request_id, key, content, patch_id in db.session.execute(
        select(HeldItem.request_id, HeldItem.key, HeldItem.content_sha256, HeldItem.patch_id)
        .where(HeldItem.request_id.in_(approvals), HeldItem.kind == "commit")
        .order_by(HeldItem.id)
    ):
        old_items.setdefault(request_id, []).append((key, content, patch_id))
    comparisons = []
    for request_id, names in approvals.items():
        old = old_items.get(request_id, [])
        by_key = {key: content for key, content, _ in old}
        by_patch = {patch_id: key for key, _, patch_id in old if patch_id}
        found = Comparison(request_id, names)
        for item in request.items:
            if item.kind != "commit":
                found.status[item.key] = CHANGED
            elif item.content_sha256 and by_key.get(item.key) == item.content_sha256:
                found.status[item.key] = SAME_COMMIT
                found.matched[item.key] = item.key
            elif item.patch_id and item.patch_id in by_patch:
                found.status[item.key] = SAME_CHANGE
                found.matched[item.key] = by_patch[item.patch_id]
            else:
                found.status[item.key] = CHANGED
        comparisons.append(found)
    return comparisons
