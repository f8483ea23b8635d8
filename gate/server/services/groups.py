"""Reviewer groups, and which groups may approve for each guard."""

from __future__ import annotations

import difflib
import re

from sqlalchemy import delete, select

from gate.server.extensions import db
from gate.server.models import GuardGroup, ReviewerGroup, User
from gate.server.models.base import max_length
from gate.server.services import Conflict, NotFound, ServiceError, audit
from gate.server.services.actor import Actor
from gate.wire import GUARD_LEN

_NAME = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9 ._-]{{0,{max_length(ReviewerGroup.name) - 1}}}$")


def list_groups() -> list[ReviewerGroup]:
    return list(db.session.scalars(select(ReviewerGroup).order_by(ReviewerGroup.name)))


def guard_rules() -> dict[str, list[ReviewerGroup]]:
    rules: dict[str, list[ReviewerGroup]] = {}
    for row in db.session.scalars(select(GuardGroup).order_by(GuardGroup.guard)):
        rules.setdefault(row.guard, []).append(row.group)
    return rules


def add_group(name: str, *, actor: Actor) -> ReviewerGroup:
    name = name.strip()
    if not _NAME.match(name):
        raise ServiceError("group names are letters, digits, spaces, '.', '_' or '-'")
    if db.session.scalar(select(ReviewerGroup).where(ReviewerGroup.name == name)):
        raise Conflict(f"there is already a group {name!r}")
    group = ReviewerGroup(name=name)
    db.session.add(group)
    db.session.flush()
    audit.append("group.added", actor=actor, subject={"group": name})
    return group


def _group(group_id: int) -> ReviewerGroup:
    group = db.session.get(ReviewerGroup, group_id)
    if group is None:
        raise NotFound(f"there is no group {group_id}")
    return group


def set_members(group_id: int, user_ids: list[int], *, actor: Actor) -> ReviewerGroup:
    group = _group(group_id)
    users = list(db.session.scalars(select(User).where(User.id.in_(user_ids))))
    if len(users) != len(set(user_ids)):
        raise ServiceError("some of the chosen reviewers do not exist")
    group.members = users
    audit.append(
        "group.members_set",
        actor=actor,
        subject={"group": group.name, "members": sorted(u.username for u in users)},
    )
    return group


def set_guard_groups(
    guard: str, group_ids: list[int], *, actor: Actor, not_pushed_yet: bool = False
) -> None:
    """Only reviewers in these groups may approve for ``guard``; no groups: any reviewer.

    A guard name no policy the server has seen uses is refused (a typo would restrict nothing),
    unless the admin says it belongs to a policy not pushed yet. Clearing a guard's groups is
    always allowed, so a rule for a guard since renamed can be removed."""
    from gate.server.services.pauses import known_guards

    guard = guard.strip()
    if not guard or len(guard) > GUARD_LEN:
        raise ServiceError(f"name the guard as the policy does (at most {GUARD_LEN} characters)")
    known = known_guards()
    seen = guard in known
    if group_ids and not seen and not not_pushed_yet:
        raise ServiceError(_unseen_guard(guard, known))
    groups = [_group(group_id) for group_id in sorted(set(group_ids))]
    db.session.execute(delete(GuardGroup).where(GuardGroup.guard == guard))
    for group in groups:
        db.session.add(GuardGroup(guard=guard, group_id=group.id))
    audit.append(
        "guard.groups_set",
        actor=actor,
        subject={"guard": guard, "groups": [g.name for g in groups], "seen": seen},
    )


def _unseen_guard(guard: str, known: list[str]) -> str:
    close = difflib.get_close_matches(guard, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    listed = (
        f"Guards gate has seen: {', '.join(known)}."
        if known
        else "gate has not seen any policy yet: a push to a gated repository shows it one."
    )
    return (
        f"no policy gate has seen has a guard named {guard!r}{hint}. {listed} "
        "For a guard of a policy not pushed yet, tick 'Not pushed yet'."
    )
