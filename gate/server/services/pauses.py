"""Pauses: named admins freeze agent changes to some guards (or all) until they stop the pause.

While a pause is in force the holds answer marks every non-denied item touching a paused guard
``paused``: the hook refuses the push even when the request is approved. Reviewers may still
approve during a pause (accepted but ineffective): the approval is recorded and takes effect
once the pause ends. Requests created during a pause are ordinary pending requests.

Audit records: ``pause.started``, ``pause.stopped``, ``pause.expired`` (an ``--until`` pause that
ran out, recorded lazily the next time pauses are looked at; the verifier also honours ``until``
itself) and ``push.refused`` for every push refused because of a pause.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from gate import wire
from gate.clock import as_utc, utc_text
from gate.server.extensions import db
from gate.server.models import ApprovalRequest, AuditRecord, Pause, User
from gate.server.services import Conflict, Forbidden, NotFound, ServiceError, audit
from gate.server.services.actor import SYSTEM, Actor

MAX_REASON = 2000


def require_admin(user: User | None) -> User:
    """The user, when an active admin (None: the password given was not accepted)."""
    if user is None:
        raise Forbidden("wrong username or password, or the account is disabled")
    if user.role != "admin" or not user.active:
        raise Forbidden(f"{user.username} is not an admin: only admins can start or stop a pause")
    return user


def known_guards() -> list[str]:
    """Guard names the server has seen in a policy or a held request."""
    names: set[str] = set()
    for subject in db.session.scalars(
        select(AuditRecord.subject).where(AuditRecord.action == "policy.seen")
    ):
        names.update((subject or {}).get("approvals", {}))
    for subject in db.session.scalars(
        select(AuditRecord.subject)
        .where(AuditRecord.action == "push.accepted")
        .order_by(AuditRecord.seq.desc())
        .limit(50)
    ):
        names.update(((subject or {}).get("policy") or {}).get("guards", []))
    for required in db.session.scalars(
        select(ApprovalRequest.required).order_by(ApprovalRequest.id.desc()).limit(500)
    ):
        names.update(required or {})
    return sorted(names)


def normalise_scope(scope: list[str]) -> list[str]:
    words = [w for part in scope for w in part.replace(",", " ").split() if w]
    if not words or "all" in words:
        if len(set(words)) > 1:
            raise ServiceError("a pause's scope is either 'all' or a list of guard names, not both")
        return ["all"]
    known = known_guards()
    unknown = sorted(set(words) - set(known))
    if unknown:
        raise ServiceError(
            f"unknown guard(s) in scope: {', '.join(unknown)}. "
            + (
                f"Guards gate knows: {', '.join(known)}."
                if known
                else "gate has not seen any policy yet; pause all guards instead."
            )
        )
    return sorted(set(words))


def _now() -> datetime:
    return datetime.now(UTC)


def start_pause(
    admin: User, reason: str, scope: list[str], until: datetime | None, *, actor: Actor
) -> Pause:
    require_admin(admin)
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("a pause needs a reason: pushers and auditors are shown it")
    if len(reason) > MAX_REASON:
        raise ServiceError(f"the reason is limited to {MAX_REASON} characters")
    scope = normalise_scope(scope)
    now = _now()
    if until is not None:
        until = as_utc(until).replace(microsecond=0)
        if until <= now:
            raise ServiceError(f"the pause's end, {utc_text(until)}, is not in the future")
    pause = Pause(scope=scope, reason=reason, started_by_id=admin.id, started_at=now, until=until)
    db.session.add(pause)
    db.session.flush()
    audit.append(
        "pause.started",
        actor=actor,
        subject=_subject(pause, by=admin),
    )
    return pause


def stop_pauses(admin: User, pause_id: int | None = None, *, actor: Actor) -> list[Pause]:
    """Stop one pause, or every pause in force; a pause that already ended is a conflict."""
    require_admin(admin)
    expire_due()
    if pause_id is not None:
        pause = db.session.get(Pause, pause_id)
        if pause is None:
            raise NotFound(f"there is no pause {pause_id}")
        if pause.ended_at is not None:
            raise Conflict(f"pause {pause_id} already ended ({pause.end_kind})")
        targets = [pause]
    else:
        targets = in_force()
        if not targets:
            raise Conflict("no pause is in force")
    now = _now()
    for pause in targets:
        pause.ended_at, pause.ended_by_id, pause.end_kind = now, admin.id, "stopped"
        audit.append(
            "pause.stopped",
            actor=actor,
            subject=_subject(pause, by=admin),
        )
    return targets


def expire_due() -> None:
    """Close pauses whose ``until`` has passed, recording ``pause.expired`` (same transaction
    as the caller's; the caller commits)."""
    now = _now()
    for pause in db.session.scalars(
        select(Pause).where(Pause.ended_at.is_(None), Pause.until.is_not(None))
    ):
        if pause.until is not None and as_utc(pause.until) <= now:
            _expire(pause, pause.until)


def _expire(pause: Pause, until: datetime) -> None:
    pause.ended_at, pause.end_kind = as_utc(until), "expired"
    audit.append(
        "pause.expired",
        actor=SYSTEM,
        subject={**_subject(pause, by=None), "expired_at": utc_text(until)},
    )


def _in_force_expiring_due() -> list[Pause]:
    """``expire_due()`` then ``in_force()`` in one query (every hold request asks): the open
    pauses, read fresh each time, closing those whose ``until`` has passed."""
    now = _now()
    current = []
    for pause in db.session.scalars(
        select(Pause).where(Pause.ended_at.is_(None)).order_by(Pause.id)
    ).all():
        if pause.until is not None and as_utc(pause.until) <= now:
            _expire(pause, pause.until)
        else:
            current.append(pause)
    return current


def in_force() -> list[Pause]:
    now = _now()
    return [
        p
        for p in db.session.scalars(
            select(Pause).where(Pause.ended_at.is_(None)).order_by(Pause.id)
        )
        if p.until is None or as_utc(p.until) > now
    ]


def recent_pauses(limit: int = 50) -> list[Pause]:
    """The latest pauses, closing those that ran out first (in the caller's transaction)."""
    expire_due()
    return list(db.session.scalars(select(Pause).order_by(Pause.id.desc()).limit(limit)))


def pause_summary(pause: Pause) -> dict[str, Any]:
    return wire.pause_status(
        pause.id,
        pause.scope,
        pause.reason,
        pause.started_by.display,
        utc_text(pause.started_at),
        utc_text(pause.until) if pause.until else None,
    )


def _subject(pause: Pause, by: User | None) -> dict[str, Any]:
    return {
        "pause": pause.id,
        "scope": pause.scope,
        "reason": pause.reason,
        "by": by.username if by else "system",
        "started_by": pause.started_by.username,
        "until": utc_text(pause.until) if pause.until else None,
    }


def apply_pauses(
    items: list[dict[str, Any]],
    guards_of: dict[str, set[str]],
    push: dict[str, Any],
    actor: Actor,
    policy_sha256: str,
) -> list[dict[str, Any]]:
    """Mark items touching a paused guard ``paused``; audit the refused push. Part of the holds
    transaction. Returns the pauses that apply, for the hook's message.

    When the push would otherwise be allowed, the audit log's lock is taken before pauses are
    read, so a pause started concurrently is either seen here or ordered after ``push.allowed``.
    """
    if all(item["state"] == "approved" for item in items):
        audit.lock()
    pauses = _in_force_expiring_due()
    if not pauses:
        return []
    used: dict[int, Pause] = {}
    for item in items:
        if item["state"] == "denied":
            continue
        hits = [p for p in pauses if p.covers(guards_of[item["key"]])]
        if hits:
            wire.pause_items(item, [p.id for p in hits])
            used.update((p.id, p) for p in hits)
    if not used:
        return []
    audit.append(
        "push.refused",
        actor=actor,
        subject={
            **push,
            "reason": "paused",
            "pauses": sorted(used),
            "keys": [item["key"] for item in items if item["state"] == "paused"],
        },
        policy_sha256=policy_sha256,
    )
    return [pause_summary(p) for _, p in sorted(used.items())]
