"""How far a request is from sign-off: distinct eligible approving reviewers per guard.

Admins may restrict a guard to reviewer groups (``GuardGroup``); a guard with no groups accepts
any active reviewer. ``Rules`` (guard -> allowed group ids) is loaded once per page and passed
down, so that rendering a queue of many requests does not query once per row.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from gate import wire
from gate.audit.verify import approval_progress, distinct_approvers
from gate.server.extensions import db
from gate.server.models import ApprovalRequest, Decision, GuardGroup, User
from gate.server.services import audit, notify
from gate.server.services.actor import SYSTEM

Rules = dict[str, set[int]]


def eligibility_rules() -> Rules:
    rules: Rules = {}
    for guard, group_id in db.session.execute(select(GuardGroup.guard, GuardGroup.group_id)):
        rules.setdefault(guard, set()).add(group_id)
    return rules


def may_approve(reviewer: User, guard: str, rules: Rules) -> bool:
    allowed = rules.get(guard)
    return not allowed or any(group.id in allowed for group in reviewer.groups)


def active_decisions(request: ApprovalRequest) -> list[Decision]:
    return [d for d in request.decisions if d.withdrawn_at is None and d.reviewer.active]


def approvers(request: ApprovalRequest) -> list[User]:
    """The reviewers whose standing approvals count, by the verifier's own rule (one per
    human). No proposers are passed: ``decide`` refuses a proposer's approval under the
    request's lock before it is stored; the verifier, trusting nothing, checks it again."""
    standing = [d.reviewer for d in active_decisions(request) if d.verdict == "approve"]
    by_name = {user.username: user for user in standing}
    counted, _ = distinct_approvers(((u.username, u.email) for u in standing), {})
    return [by_name[name] for name in counted.values()]


def guard_progress(
    request: ApprovalRequest, rules: Rules | None = None
) -> dict[str, tuple[int, int]]:
    """guard -> (distinct eligible approvals given, approvals needed)."""
    if rules is None:
        rules = eligibility_rules()
    allowed = rules
    given = {user.username: user for user in approvers(request)}
    progress = approval_progress(
        request.required,
        {name: name for name in given},
        lambda name, guard: may_approve(given[name], guard, allowed),
    )
    return {guard: (min(count, needed), needed) for guard, (count, needed) in progress.items()}


def is_satisfied(request: ApprovalRequest, rules: Rules | None = None) -> bool:
    return all(given >= needed for given, needed in guard_progress(request, rules).values())


def progress_text(request: ApprovalRequest, rules: Rules | None = None) -> str:
    parts = [
        f"{guard} {given}/{needed}"
        for guard, (given, needed) in guard_progress(request, rules).items()
    ]
    return f"({', '.join(parts)} approvals)" if parts else ""


def request_summary(request: ApprovalRequest, rules: Rules | None = None) -> dict[str, Any]:
    """The request's status on the wire (gate.wire.request_status)."""
    if rules is None:
        rules = eligibility_rules()
    return wire.request_status(
        request.id,
        request.state,
        repository=request.repository.name,
        ref=request.ref,
        progress=progress_text(request, rules),
        approvals=guard_progress(request, rules),
        approved_by=[u.display for u in approvers(request)],
        denials=[
            (d.reviewer.display, d.comment)
            for d in active_decisions(request)
            if d.verdict == "deny"
        ],
        superseded_by=request.superseded_by_id,
    )


def settle(request: ApprovalRequest) -> None:
    """Move a pending request to approved or denied when its decisions say so."""
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
        actor=SYSTEM,
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
