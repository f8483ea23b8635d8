"""How far a request is from sign-off: distinct approving reviewers per guard."""

from __future__ import annotations

from typing import Any

from gate.models import ApprovalRequest, Decision


def active_decisions(request: ApprovalRequest) -> list[Decision]:
    return [d for d in request.decisions if d.withdrawn_at is None and d.reviewer.active]


def approvers(request: ApprovalRequest) -> list[Any]:
    seen: dict[int, Any] = {}
    for decision in active_decisions(request):
        if decision.verdict == "approve":
            seen.setdefault(decision.reviewer_id, decision.reviewer)
    return list(seen.values())


def guard_progress(request: ApprovalRequest) -> dict[str, tuple[int, int]]:
    """guard -> (distinct approvals given, approvals needed)."""
    given = len(approvers(request))
    return {
        guard: (min(given, needed), needed) for guard, needed in sorted(request.required.items())
    }


def is_satisfied(request: ApprovalRequest) -> bool:
    return all(given >= needed for given, needed in guard_progress(request).values())


def progress_text(request: ApprovalRequest) -> str:
    parts = [
        f"{guard} {given}/{needed}" for guard, (given, needed) in guard_progress(request).items()
    ]
    return f"({', '.join(parts)} approvals)" if parts else ""


def request_summary(request: ApprovalRequest) -> dict[str, Any]:
    denials = [
        {"reviewer": d.reviewer.display, "comment": d.comment}
        for d in active_decisions(request)
        if d.verdict == "deny"
    ]
    return {
        "id": request.id,
        "state": request.state,
        "ref": request.ref,
        "repository": request.repository.name,
        "progress": progress_text(request),
        "approvals": {
            g: {"given": a, "needed": n} for g, (a, n) in guard_progress(request).items()
        },
        "approved_by": [u.display for u in approvers(request)],
        "denials": denials,
        "superseded_by": request.superseded_by_id,
    }
