"""Reviewers' decisions: approve or deny a pending request, with separation of duties."""

from __future__ import annotations

from datetime import UTC, datetime

from gate import audit
from gate.extensions import db
from gate.models import ApprovalRequest, Decision, User
from gate.services import Conflict, Forbidden, NotFound, ServiceError
from gate.services.progress import approvers, guard_progress, is_satisfied

VERDICTS = ("approve", "deny")
DECIDING_ROLES = ("reviewer", "admin")


def get_request(request_id: int) -> ApprovalRequest:
    request = db.session.get(ApprovalRequest, request_id)
    if request is None:
        raise NotFound(f"there is no request {request_id}")
    return request


def conflicts_of_interest(request: ApprovalRequest, reviewer: User) -> list[str]:
    """Why this reviewer may not approve: they wrote, committed or pushed a held change."""
    email = reviewer.email.lower()
    reasons = []
    for item in request.items:
        short = item.key[:12]
        if item.author_email.lower() == email:
            reasons.append(f"you are the author of {short}")
        if item.committer_email.lower() == email:
            reasons.append(f"you are the committer of {short}")
    if request.pusher and request.pusher.lower() in (reviewer.username.lower(), email):
        reasons.append("you pushed these changes")
    return reasons


def decide(request: ApprovalRequest, reviewer: User, verdict: str, comment: str) -> Decision:
    """Record one reviewer's decision and settle the request's state, with its audit records."""
    comment = comment.strip()
    if verdict not in VERDICTS:
        raise ServiceError("decision must be 'approve' or 'deny'")
    if not reviewer.active or reviewer.role not in DECIDING_ROLES:
        raise Forbidden("only active reviewers can decide requests")
    if request.state != "pending":
        raise Conflict(f"request {request.id} is already {request.state}")
    if verdict == "deny" and not comment:
        raise ServiceError("a denial needs a comment that tells the agent's operator why")
    if len(comment) > 10_000:
        raise ServiceError("comments are limited to 10,000 characters")
    if verdict == "approve":
        reasons = conflicts_of_interest(request, reviewer)
        if reasons:
            raise Forbidden(
                "you cannot approve this request: "
                + "; ".join(reasons)
                + ". Another reviewer must."
            )
        if any(u.id == reviewer.id for u in approvers(request)):
            raise Conflict(
                "you have already approved this request; another reviewer must add theirs"
            )
    decision = Decision(
        request_id=request.id, reviewer_id=reviewer.id, verdict=verdict, comment=comment
    )
    db.session.add(decision)
    db.session.flush()
    db.session.refresh(request)
    subject = {
        "request": request.id,
        "repository": request.repository.name,
        "ref": request.ref,
        "keys": [item.key for item in request.items],
        "diff_sha256": {item.key: item.diff_sha256 for item in request.items},
        "guards": sorted(request.required),
        "reviewer": reviewer.username,
        "reviewer_name": reviewer.name,
        "reviewer_email": reviewer.email,
        "comment": comment,
    }
    audit.append(
        f"decision.{verdict}",
        actor=reviewer.username,
        actor_auth="session-password",
        subject=subject,
        policy_sha256=request.policy_sha256,
    )
    _settle(request)
    db.session.commit()
    return decision


def _settle(request: ApprovalRequest) -> None:
    if any(d.verdict == "deny" and d.withdrawn_at is None for d in request.decisions):
        state = "denied"
    elif is_satisfied(request):
        state = "approved"
    else:
        return
    request.state = state
    request.decided_at = datetime.now(UTC)
    audit.append(
        f"request.{state}",
        actor="system",
        actor_auth="system",
        subject={
            "request": request.id,
            "repository": request.repository.name,
            "ref": request.ref,
            "keys": [item.key for item in request.items],
            "approvers": [u.username for u in approvers(request)],
            "progress": {g: list(p) for g, p in guard_progress(request).items()},
        },
        policy_sha256=request.policy_sha256,
    )
