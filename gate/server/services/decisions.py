"""Reviewers' decisions: approve (with step-up and attestation), deny, or withdraw an approval.

An approval names what it attests to: the statement from ``attestation_for`` (commits, one
SHA-256 over every held item's shown-diff hash and content hash, and the guards), exactly as
the page showed it. The decision's audit record also names each item's content SHA-256 (of
the objects the server verified), which the offline verifier checks against the hold.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gate.server.extensions import db
from gate.server.models import DECIDING_ROLES, ApprovalRequest, Decision, User
from gate.server.services import (
    Conflict,
    Forbidden,
    NotFound,
    ServiceError,
    audit,
    comment_text,
    notify,
    throttle,
    webauthn,
)
from gate.server.services.accounts import check_password
from gate.server.services.actor import Actor
from gate.server.services.progress import (
    Rules,
    eligibility_rules,
    guard_progress,
    may_approve,
    settle,
)
from gate.server.services.reading import (
    attach_drafts,
    comment_record,
    unviewed_guarded,
    viewed_record,
)

VERDICTS = ("approve", "deny")
_EMAIL_IN = re.compile(r"<([^<>\s]+@[^<>\s]+)>|([^<>\s]+@[^<>\s]+)")


ALREADY_APPROVED = "you have already approved this request; another reviewer must add theirs"


class StepUpFailed(Forbidden):
    """The password re-entered to approve was wrong (or missing, or not checked because of
    too many recent failures: ``reason`` None); nothing was recorded."""

    def __init__(self, message: str, *, reason: str | None) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Attestation:
    statement: str
    sha256: str


def get_request(request_id: int) -> ApprovalRequest:
    request = db.session.get(ApprovalRequest, request_id)
    if request is None:
        raise NotFound(f"there is no request {request_id}")
    return request


def attested_sha256(request: ApprovalRequest) -> str:
    """One SHA-256 over the held items: each item's key, shown-diff hash and (held since the
    server verified content) content hash, one per line."""
    lines = "".join(
        f"{item.key} {item.diff_sha256 or '-'}"
        + (f" {item.content_sha256}" if item.content_sha256 else "")
        + "\n"
        for item in request.items
    )
    return hashlib.sha256(lines.encode("utf-8", errors="surrogatepass")).hexdigest()


def attestation_for(request: ApprovalRequest) -> Attestation:
    digest = attested_sha256(request)
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
        f"I reviewed {what} in {request.repository.name}, attested SHA-256 {digest}, "
        f"for {label} {', '.join(guards)}."
    )
    return Attestation(statement, digest)


def _emails(text: str) -> set[str]:
    return {(a or b).lower() for a, b in _EMAIL_IN.findall(text)}


def trailer_operators(trailers: Any) -> list[str]:
    """Emails named in a commit's ``On-behalf-of:`` trailers (lower-cased, sorted); stored
    trailers of another shape (rows from before gate.wire) name no one."""
    found: set[str] = set()
    for trailer in trailers if isinstance(trailers, list) else []:
        if (
            isinstance(trailer, list)
            and len(trailer) == 2
            and str(trailer[0]).strip().lower() == "on-behalf-of"
        ):
            found |= _emails(str(trailer[1]))
    return sorted(found)


def _trailer_operators_of(request: ApprovalRequest) -> set[str]:
    """The On-behalf-of emails of every held commit, read defensively (stored rows may hold
    any JSON: rows written before the API validated bodies)."""
    found: set[str] = set()
    for item in request.items:
        commit = item.meta.get("commit") if isinstance(item.meta, dict) else None
        found.update(trailer_operators(commit.get("trailers") if isinstance(commit, dict) else []))
    return found


def _first_pushers_owners_of(request: ApprovalRequest) -> set[str]:
    """The operators of the agent accounts the host remembers pushing held commits first
    (holds._first_pushers_owners), read defensively like the trailers."""
    found: set[str] = set()
    for item in request.items:
        owners = item.meta.get("agent_owners") if isinstance(item.meta, dict) else None
        found.update(o.lower() for o in owners or [] if isinstance(o, str) and o)
    return found


def operators(request: ApprovalRequest) -> set[str]:
    """Emails of the humans operating the agent: On-behalf-of trailers, the policy's owner of
    the pusher, and the owners of the agent accounts that first pushed held commits."""
    found = _trailer_operators_of(request) | _first_pushers_owners_of(request)
    if request.agent_owner:
        found.add(request.agent_owner.lower())
    return found


def claimed_conflicts(request: ApprovalRequest, reviewer: User) -> list[str]:
    """Conflicts that rest only on an ``On-behalf-of:`` trailer: text the agent wrote, which
    could name every reviewer and so leave nobody to approve. An admin may approve despite
    them; the approval then records them as overridden (decision.approve's ``overrides``)."""
    email = reviewer.email.lower()
    owners = {(request.agent_owner or "").lower()} | _first_pushers_owners_of(request)
    trailers = _trailer_operators_of(request)
    if email in trailers and email not in owners:
        return ["you operate the agent that made these changes (an On-behalf-of trailer says so)"]
    return []


def conflicts_of_interest(request: ApprovalRequest, reviewer: User) -> list[str]:
    """Why this reviewer may not approve: they wrote, committed, pushed or operate the agent."""
    claimed = claimed_conflicts(request, reviewer)
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
    if claimed:
        reasons += claimed
    elif email in operators(request):
        reasons.append("you operate the agent that made these changes")
    return reasons


def may_override(request: ApprovalRequest, reviewer: User) -> bool:
    """Whether an admin may approve despite their conflicts: all of them are claimed ones."""
    claimed = claimed_conflicts(request, reviewer)
    return (
        reviewer.role == "admin"
        and bool(claimed)
        and conflicts_of_interest(request, reviewer) == claimed
    )


def ineligible_guards(request: ApprovalRequest, reviewer: User, rules: Rules) -> list[str]:
    return [guard for guard in sorted(request.required) if not may_approve(reviewer, guard, rules)]


def decide(
    request: ApprovalRequest,
    reviewer: User,
    verdict: str,
    comment: str,
    *,
    actor: Actor,
    password: str | None = None,
    attest: bool = False,
    shown_sha256: str | None = None,
    address: str | None = None,
    webauthn_pending: dict[str, Any] | None = None,
    webauthn_response: str = "",
) -> Decision:
    """Record one reviewer's decision and settle the request's state, with its audit records.

    Every check runs here, after the request's lock is taken and the request read again, so
    two decisions sent at once (a double-click) are judged one after the other: the second
    finds the first. Approvals need the reviewer's password again (step-up) and the attestation
    ticked; a wrong password raises StepUpFailed and records nothing here: the edge keeps the
    failure with ``record_step_up_failure`` in a transaction of its own.
    """
    comment = comment_text(comment)
    if verdict not in VERDICTS:
        raise ServiceError("decision must be 'approve' or 'deny'")
    if verdict == "deny" and not comment:
        raise ServiceError("a denial needs a comment that tells the agent's operator why")
    if len(comment) > 10_000:
        raise ServiceError("comments are limited to 10,000 characters")
    lock_request(request)
    db.session.refresh(reviewer)
    if not reviewer.active or reviewer.role not in DECIDING_ROLES:
        raise Forbidden("only active reviewers can decide requests")
    if request.state != "pending":
        raise Conflict(f"request {request.id} is already {request.state}")
    attestation = attestation_for(request)
    overrides: list[str] = []
    signed: dict[str, Any] | None = None
    if verdict == "approve":
        overrides = _check_may_approve(request, reviewer)
        if shown_sha256 and shown_sha256 != attestation.sha256:
            raise Conflict(
                "the request changed since you loaded it; reload the page and review it again"
            )
        unviewed = unviewed_guarded(request, reviewer, attestation.sha256)
        if unviewed:
            shown = ", ".join(unviewed[:10]) + (
                f" and {len(unviewed) - 10} more" if len(unviewed) > 10 else ""
            )
            raise Conflict(
                f"mark every guarded file as viewed before you approve: {len(unviewed)} not "
                f"viewed yet: {shown}. Nothing was recorded."
            )
        if not attest:
            raise ServiceError("tick the statement of what you reviewed to approve")
        if webauthn.needs_webauthn(request):
            signed = webauthn.verify_approval(
                request,
                reviewer,
                attestation.sha256,
                comment,
                webauthn_pending,
                webauthn_response,
            )
            actor = actor.signed_with_key
        else:
            _step_up(reviewer, password, address)
            actor = actor.stepped_up
    decision = Decision(
        request_id=request.id,
        reviewer_id=reviewer.id,
        verdict=verdict,
        comment=comment,
        attestation=attestation.statement if verdict == "approve" else None,
        attested_sha256=attestation.sha256,
        auth_method=actor.auth,
        created_at=datetime.now(UTC),
    )
    db.session.add(decision)
    try:
        db.session.flush()
    except IntegrityError:
        # Only reachable if the lock above did not serialise this decision with its twin.
        raise Conflict(ALREADY_APPROVED) from None
    db.session.refresh(request)
    comments = attach_drafts(request, reviewer, decision)
    subject = {
        "request": request.id,
        "decision": decision.id,
        "repository": request.repository.name,
        "ref": request.ref,
        "keys": [item.key for item in request.items],
        "diff_sha256": {item.key: item.diff_sha256 for item in request.items},
        "content_sha256": attestation.sha256,  # the attestation's hash (attested_sha256)
        "held_content_sha256": {
            item.key: item.content_sha256 for item in request.items if item.content_sha256
        },
        "attestation": decision.attestation,
        "guards": sorted(request.required),
        "reviewer": reviewer.username,
        "reviewer_name": reviewer.name,
        "reviewer_email": reviewer.email,
        "comment": comment,
    }
    if overrides:
        subject["overrides"] = overrides
    if verdict == "approve":
        subject["viewed_files"] = viewed_record(request, reviewer, attestation.sha256)
    if comments:
        subject["line_comments"] = comment_record(
            comments, {item.id: item.key for item in request.items}
        )
    if signed is not None:
        subject["webauthn"] = signed
    audit.append(
        f"decision.{verdict}", actor=actor, subject=subject, policy_sha256=request.policy_sha256
    )
    notify.enqueue(f"decision.{verdict}", request, extra={"reviewer": reviewer.display})
    settle(request)
    return decision


def lock_request(request: ApprovalRequest) -> None:
    """Take the request's lock for the rest of the transaction and read it again, with its
    decisions, as the last writer left it.

    The audit lock first, as every writer takes it (see audit.lock): on SQLite it is the
    database's write lock, on PostgreSQL an advisory lock, then ``SELECT ... FOR UPDATE`` on
    the request's row (SQLite has no row locks and ignores it: its write lock covers it).
    """
    audit.lock()
    db.session.expire(request)
    db.session.execute(
        select(ApprovalRequest)
        .where(ApprovalRequest.id == request.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def approval_refusal(request: ApprovalRequest, reviewer: User, rules: Rules) -> ServiceError | None:
    """Why ``reviewer`` may not approve ``request`` (None: they may): a conflict of interest
    they cannot override, no group that may approve any of its guards, or a standing approval
    of theirs already. The one rule: ``decide`` raises what it answers, and the "waiting on
    me" queue (gate.server.services.queue) lists the requests it answers None for."""
    reasons = conflicts_of_interest(request, reviewer)
    if reasons and not may_override(request, reviewer):
        hint = (
            " An admin may approve despite an On-behalf-of trailer (recorded as an override)."
            if claimed_conflicts(request, reviewer)
            else ""
        )
        return Forbidden(
            "you cannot approve this request: "
            + "; ".join(reasons)
            + ". Another reviewer must."
            + hint
        )
    if ineligible_guards(request, reviewer, rules) == sorted(request.required):
        return Forbidden(
            "you are in none of the reviewer groups that may approve "
            + ", ".join(sorted(request.required))
            + "; a reviewer from those groups must."
        )
    if any(
        d.reviewer_id == reviewer.id and d.verdict == "approve" and d.withdrawn_at is None
        for d in request.decisions
    ):
        return Conflict(ALREADY_APPROVED)
    return None


def _check_may_approve(request: ApprovalRequest, reviewer: User) -> list[str]:
    """Refuse an approval the reviewer may not give; give the claimed conflicts an admin
    overrides by giving it."""
    refusal = approval_refusal(request, reviewer, eligibility_rules())
    if refusal is not None:
        raise refusal
    return claimed_conflicts(request, reviewer) if may_override(request, reviewer) else []


def _step_up(reviewer: User, password: str | None, address: str | None) -> None:
    if throttle.is_throttled(reviewer.username, address):
        raise StepUpFailed(
            "too many wrong passwords recently; wait a few minutes, then try again. "
            "Nothing was recorded.",
            reason=None,
        )
    if password and check_password(reviewer, password):
        return
    raise StepUpFailed(
        "your password was not accepted; approving needs your password again. Nothing was recorded.",
        reason="wrong password" if password else "no password",
    )


def record_step_up_failure(
    failure: StepUpFailed, reviewer: User, request_id: int, address: str | None, actor: Actor
) -> None:
    """Count a rejected step-up password and keep its audit record (no-op for a throttled
    attempt, which checked no password). The decision's transaction was rolled back, so the
    edge calls this in a transaction of its own: the failure must be kept though nothing else is.
    """
    if failure.reason is None:
        return
    throttle.record_failure(reviewer.username, address)
    audit.append(
        "stepup.failed",
        actor=actor,
        subject={"user": reviewer.username, "request": request_id, "reason": failure.reason},
    )


def withdraw_approval(request: ApprovalRequest, reviewer: User, *, actor: Actor) -> Decision:
    """Take back one's approval of a still-pending request; it stops counting at once."""
    lock_request(request)
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
    decision.withdrawn_at = datetime.now(UTC)
    db.session.flush()
    db.session.refresh(request)
    audit.append(
        "approval.withdrawn",
        actor=actor,
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
    return decision
