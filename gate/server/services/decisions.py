"""Reviewers' decisions: approve (with step-up and attestation), deny, or withdraw an approval.

An approval names what it attests to: the statement from ``attestation_for`` (commits, one
SHA-256 over every held item's diff hash, and the guards), exactly as the page showed it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from gate.server.extensions import db
from gate.server.models import ApprovalRequest, Decision, User
from gate.server.services import (
    Conflict,
    Forbidden,
    NotFound,
    ServiceError,
    audit,
    notify,
    throttle,
)
from gate.server.services.accounts import check_password
from gate.server.services.progress import (
    Rules,
    approvers,
    eligibility_rules,
    guard_progress,
    is_satisfied,
    may_approve,
    request_summary,
)

VERDICTS = ("approve", "deny")
DECIDING_ROLES = ("reviewer", "admin")
_EMAIL_IN = re.compile(r"<([^<>\s]+@[^<>\s]+)>|([^<>\s]+@[^<>\s]+)")


class StepUpFailed(Forbidden):
    """The password re-entered to approve was wrong (or missing); nothing was recorded."""


@dataclass(frozen=True)
class Attestation:
    statement: str
    sha256: str


def get_request(request_id: int) -> ApprovalRequest:
    request = db.session.get(ApprovalRequest, request_id)
    if request is None:
        raise NotFound(f"there is no request {request_id}")
    return request


def content_sha256(request: ApprovalRequest) -> str:
    """One SHA-256 over the held items as shown: each item's key and diff hash, one per line."""
    lines = "".join(f"{item.key} {item.diff_sha256 or '-'}\n" for item in request.items)
    return hashlib.sha256(lines.encode("utf-8", errors="surrogatepass")).hexdigest()


def attestation_for(request: ApprovalRequest) -> Attestation:
    digest = content_sha256(request)
    commits = [item.key for item in request.items if item.kind == "commit"]
    changes = [item for item in request.items if item.kind != "commit"]
    if len(commits) == 1:
        what = f"commit {commits[0][:12]}"
    elif commits:
        what = f"commits {commits[0][:12]}..{commits[-1][:12]} ({len(commits)} commits)"
    else:
        what = ""
    if changes:
        what += (" and " if what else "") + f"the ref change to {request.ref}"
    guards = sorted(request.required)
    label = "guard" if len(guards) == 1 else "guards"
    statement = (
        f"I reviewed {what} in {request.repository.name}, diff SHA-256 {digest}, "
        f"for {label} {', '.join(guards)}."
    )
    return Attestation(statement, digest)


def _emails(text: str) -> set[str]:
    return {(a or b).lower() for a, b in _EMAIL_IN.findall(text)}


def trailer_operators(trailers: list[list[str]]) -> list[str]:
    """Emails named in a commit's ``On-behalf-of:`` trailers (lower-cased, sorted)."""
    found: set[str] = set()
    for trailer in trailers or []:
        if len(trailer) == 2 and str(trailer[0]).strip().lower() == "on-behalf-of":
            found |= _emails(str(trailer[1]))
    return sorted(found)


def operators(request: ApprovalRequest) -> set[str]:
    """Emails of the humans operating the agent: On-behalf-of trailers and the policy's owner."""
    found: set[str] = set()
    for item in request.items:
        found.update(trailer_operators((item.meta or {}).get("commit", {}).get("trailers", [])))
    if request.agent_owner:
        found.add(request.agent_owner.lower())
    return found


def conflicts_of_interest(request: ApprovalRequest, reviewer: User) -> list[str]:
    """Why this reviewer may not approve: they wrote, committed, pushed or operate the agent."""
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
    if email in operators(request):
        reasons.append("you operate the agent that made these changes")
    return reasons


def ineligible_guards(request: ApprovalRequest, reviewer: User, rules: Rules) -> list[str]:
    return [guard for guard in sorted(request.required) if not may_approve(reviewer, guard, rules)]


def decide(
    request: ApprovalRequest,
    reviewer: User,
    verdict: str,
    comment: str,
    *,
    password: str | None = None,
    attest: bool = False,
    shown_sha256: str | None = None,
    login_method: str = "password",
    address: str | None = None,
) -> Decision:
    """Record one reviewer's decision and settle the request's state, with its audit records.

    Approvals need the reviewer's password again (step-up) and the attestation ticked; a wrong
    password records no decision, only a ``stepup.failed`` audit event.
    """
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
    attestation = attestation_for(request)
    auth_method = f"session-{login_method}"
    if verdict == "approve":
        _check_may_approve(request, reviewer)
        if shown_sha256 and shown_sha256 != attestation.sha256:
            raise Conflict(
                "the request changed since you loaded it; reload the page and review it again"
            )
        if not attest:
            raise ServiceError("tick the statement of what you reviewed to approve")
        _step_up(reviewer, password, address, request)
        auth_method += "+step-up-password"
    # The audit lock before the decision's row: inserting it locks the request row's key, and
    # a push that holds the audit lock (a new policy's first sight) then waits for that row.
    audit.lock()
    decision = Decision(
        request_id=request.id,
        reviewer_id=reviewer.id,
        verdict=verdict,
        comment=comment,
        attestation=attestation.statement if verdict == "approve" else None,
        attested_sha256=attestation.sha256,
        auth_method=auth_method,
        created_at=datetime.now(UTC),
    )
    db.session.add(decision)
    db.session.flush()
    db.session.refresh(request)
    if request.state != "pending":
        # A push superseded (or a decision settled) the request after this reviewer loaded
        # it. The flush above waited for that writer (SQLite's write lock; on PostgreSQL the
        # new decision's key lock on the request row), so the state read back is final.
        request_id, state = request.id, request.state
        db.session.rollback()
        raise Conflict(f"request {request_id} is already {state}")
    subject = {
        "request": request.id,
        "decision": decision.id,
        "repository": request.repository.name,
        "ref": request.ref,
        "keys": [item.key for item in request.items],
        "diff_sha256": {item.key: item.diff_sha256 for item in request.items},
        "content_sha256": attestation.sha256,
        "attestation": decision.attestation,
        "guards": sorted(request.required),
        "reviewer": reviewer.username,
        "reviewer_name": reviewer.name,
        "reviewer_email": reviewer.email,
        "comment": comment,
    }
    audit.append(
        f"decision.{verdict}",
        actor=reviewer.username,
        actor_auth=auth_method[:40],
        subject=subject,
        policy_sha256=request.policy_sha256,
    )
    notify.enqueue(f"decision.{verdict}", request, extra={"reviewer": reviewer.display})
    settle(request)
    db.session.commit()
    return decision


def _check_may_approve(request: ApprovalRequest, reviewer: User) -> None:
    reasons = conflicts_of_interest(request, reviewer)
    if reasons:
        raise Forbidden(
            "you cannot approve this request: " + "; ".join(reasons) + ". Another reviewer must."
        )
    rules = eligibility_rules()
    if ineligible_guards(request, reviewer, rules) == sorted(request.required):
        raise Forbidden(
            "you are in none of the reviewer groups that may approve "
            + ", ".join(sorted(request.required))
            + "; a reviewer from those groups must."
        )
    if any(u.id == reviewer.id for u in approvers(request)):
        raise Conflict("you have already approved this request; another reviewer must add theirs")


def _step_up(
    reviewer: User, password: str | None, address: str | None, request: ApprovalRequest
) -> None:
    if throttle.is_throttled(reviewer.username, address):
        raise StepUpFailed(
            "too many wrong passwords recently; wait a few minutes, then try again. "
            "Nothing was recorded."
        )
    if password and check_password(reviewer, password):
        return
    db.session.rollback()
    throttle.record_failure(reviewer.username, address)
    audit.append(
        "stepup.failed",
        actor=reviewer.username,
        actor_auth="session",
        subject={
            "user": reviewer.username,
            "request": request.id,
            "reason": "wrong password" if password else "no password",
        },
    )
    db.session.commit()
    raise StepUpFailed(
        "your password was not accepted; approving needs your password again. Nothing was recorded."
    )


def withdraw_approval(request: ApprovalRequest, reviewer: User) -> Decision:
    """Take back one's approval of a still-pending request; it stops counting at once."""
    if request.state != "pending":
        raise Conflict(
            f"request {request.id} is already {request.state}; approvals can be withdrawn only "
            "while it is pending"
        )
    decision = db.session.scalar(
        select(Decision).where(
            Decision.request_id == request.id,
            Decision.reviewer_id == reviewer.id,
            Decision.verdict == "approve",
            Decision.withdrawn_at.is_(None),
        )
    )
    if decision is None:
        raise Conflict("you have no approval on this request to withdraw")
    audit.lock()  # before writing, as every writer that appends: see audit.lock
    decision.withdrawn_at = datetime.now(UTC)
    db.session.flush()
    db.session.refresh(request)
    audit.append(
        "approval.withdrawn",
        actor=reviewer.username,
        actor_auth="session",
        subject={
            "request": request.id,
            "decision": decision.id,
            "repository": request.repository.name,
            "ref": request.ref,
            "reviewer": reviewer.username,
            "progress": {g: list(p) for g, p in guard_progress(request).items()},
        },
        policy_sha256=request.policy_sha256,
    )
    db.session.commit()
    return decision


def settle(request: ApprovalRequest) -> None:
    """Move a pending request to approved or denied when its decisions say so (no commit)."""
    if request.state != "pending":
        return
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
    notify.enqueue(f"request.{state}", request, extra={"summary": request_summary(request)})
