"""The reviewers' queue: filtered, searched and paginated requests in a constant number of queries.

Read-only. Filters use indexed columns and the ``request_facets`` table (guards and agents of a
request), and each page loads its rows' repository, item summaries, facets and decisions with
one ``selectinload`` query per relationship, never one query per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, exists, func, literal, or_, select, union_all
from sqlalchemy.orm import joinedload, selectinload

from gate.server.extensions import db
from gate.server.models import (
    ApprovalRequest,
    Decision,
    HeldItem,
    Repository,
    RequestFacet,
    User,
)

STATES = ("pending", "approved", "denied", "superseded")


@dataclass(frozen=True)
class QueueFilters:
    state: str = ""
    repository: str = ""
    guard: str = ""
    agent: str = ""
    reviewer: str = ""
    q: str = ""

    @classmethod
    def from_args(cls, args: Any) -> QueueFilters:
        def text(name: str, limit: int = 200) -> str:
            value = args.get(name, "")
            return value.strip()[:limit] if isinstance(value, str) else ""

        state = text("state")
        return cls(
            state=state if state in STATES else "",
            repository=text("repository", 500),
            guard=text("guard"),
            agent=text("agent"),
            reviewer=text("reviewer", 80),
            q=text("q"),
        )

    def as_args(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}

    @property
    def active(self) -> bool:
        return bool(self.as_args())


@dataclass
class QueuePage:
    requests: list[ApprovalRequest]
    total: int
    page: int
    pages: int
    per_page: int


def _facet(kind: str, value: str) -> Any:
    return exists().where(
        RequestFacet.request_id == ApprovalRequest.id,
        RequestFacet.kind == kind,
        RequestFacet.value == value,
    )


def _conditions(filters: QueueFilters) -> list[Any]:
    where: list[Any] = []
    if filters.state:
        where.append(ApprovalRequest.state == filters.state)
    if filters.repository:
        where.append(
            ApprovalRequest.repository_id
            == select(Repository.id).where(Repository.name == filters.repository).scalar_subquery()
        )
    if filters.guard:
        where.append(_facet("guard", filters.guard))
    if filters.agent:
        where.append(_facet("agent", filters.agent))
    if filters.reviewer:
        where.append(
            exists().where(
                Decision.request_id == ApprovalRequest.id,
                Decision.reviewer_id == User.id,
                User.username == filters.reviewer,
            )
        )
    if filters.q:
        term = filters.q
        match = or_(
            HeldItem.key.startswith(term.lower(), autoescape=True),
            func.lower(HeldItem.message).contains(term.lower(), autoescape=True),
        )
        where.append(exists().where(and_(HeldItem.request_id == ApprovalRequest.id, match)))
    return where


def _page_ids(where: list[Any], offset: int, limit: int) -> Any:
    """The ids of one page, pending first, each part newest first, as a subquery (id, part).

    Sorting every matching row by (state is pending, created_at) reads and sorts the whole
    table for each page. Instead each part is its own ordered, limited subquery that the
    ``(state, created_at)`` and ``(created_at)`` indexes serve by scanning backwards, reading
    at most ``offset + limit`` rows; the two are then merged and cut to the page.
    """
    order = (ApprovalRequest.created_at.desc(), ApprovalRequest.id.desc())
    parts = [
        select(ApprovalRequest.id, ApprovalRequest.created_at, literal(rank).label("part"))
        .where(*where, condition)
        .order_by(*order)
        .limit(offset + limit)
        .subquery()
        for rank, condition in (
            (0, ApprovalRequest.state == "pending"),
            (1, ApprovalRequest.state != "pending"),
        )
    ]
    both = union_all(*(select(p.c.id, p.c.created_at, p.c.part) for p in parts)).subquery()
    return (
        select(both.c.id, both.c.part)
        .order_by(both.c.part, both.c.created_at.desc(), both.c.id.desc())
        .offset(offset)
        .limit(limit)
        .subquery()
    )


def search_requests(filters: QueueFilters, page: int, per_page: int) -> QueuePage:
    where = _conditions(filters)
    total = db.session.scalar(select(func.count(ApprovalRequest.id)).where(*where)) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    ids = _page_ids(where, (page - 1) * per_page, per_page)
    rows = db.session.scalars(
        select(ApprovalRequest)
        .join(ids, ids.c.id == ApprovalRequest.id)
        .order_by(ids.c.part, ApprovalRequest.created_at.desc(), ApprovalRequest.id.desc())
        .options(
            joinedload(ApprovalRequest.repository),
            selectinload(ApprovalRequest.items).load_only(
                HeldItem.id, HeldItem.request_id, HeldItem.key, HeldItem.kind, HeldItem.summary
            ),
            selectinload(ApprovalRequest.facets),
            selectinload(ApprovalRequest.decisions)
            .joinedload(Decision.reviewer)
            .selectinload(User.groups),
        )
    ).all()
    return QueuePage(list(rows), total, page, pages, per_page)


def filter_options() -> dict[str, list[str]]:
    """The values each filter can take, for the queue's drop-downs."""

    def facet_values(kind: str) -> list[str]:
        # SELECT DISTINCT reads every facet row of the kind (one per request). This walks the
        # (kind, value) index from one distinct value to the next instead: one index probe per
        # value, in order.
        first = (
            select(func.min(RequestFacet.value).label("value"))
            .where(RequestFacet.kind == kind)
            .cte("facet_values", recursive=True)
        )
        following = (
            select(func.min(RequestFacet.value))
            .where(RequestFacet.kind == kind, RequestFacet.value > first.c.value)
            .scalar_subquery()
        )
        values = first.union_all(select(following).where(first.c.value.is_not(None)))
        return [v for v in db.session.scalars(select(values.c.value)) if v is not None]

    return {
        "state": list(STATES),
        "repository": list(db.session.scalars(select(Repository.name).order_by(Repository.name))),
        "guard": facet_values("guard"),
        "agent": facet_values("agent"),
        "reviewer": list(
            db.session.scalars(
                select(User.username)
                .where(User.role.in_(("reviewer", "admin")))
                .order_by(User.username)
            )
        ),
    }


WAITING_SCAN = 200  # pending requests read per look at "waiting on me", at most


@dataclass
class Waiting:
    """The requests waiting on one reviewer, oldest first: at most ``WAITING_SCAN`` read."""

    requests: list[ApprovalRequest]
    more: bool  # more pending requests may wait on them than were read

    @property
    def count(self) -> str:
        return f"{len(self.requests)}+" if self.more else str(len(self.requests))


def waiting_on(reviewer: User, scan: int = WAITING_SCAN) -> Waiting:
    """The pending requests ``reviewer`` may approve and has not approved, oldest first.

    The rule is the decision service's (decisions.approval_refusal), applied to every request
    listed. Reading every pending request to apply it would grow with the queue, so SQL first
    leaves out the requests the rule surely refuses (the reviewer's standing approval, their
    own commits or push, an agent they own, guards none of their groups may approve) and reads
    at most ``scan`` of the rest, with only the columns the rule reads.
    """
    from gate.server.services.decisions import DECIDING_ROLES, approval_refusal
    from gate.server.services.progress import eligibility_rules

    if not reviewer.active or reviewer.role not in DECIDING_ROLES:
        return Waiting([], False)
    rules = eligibility_rules()
    mine = {group.id for group in reviewer.groups}
    closed = sorted(guard for guard, groups in rules.items() if not groups & mine)
    email = reviewer.email.lower()
    guard_open = exists().where(
        RequestFacet.request_id == ApprovalRequest.id,
        RequestFacet.kind == "guard",
        RequestFacet.value.not_in(closed) if closed else literal(True),
    )
    own_item = exists().where(
        HeldItem.request_id == ApprovalRequest.id,
        or_(
            func.lower(HeldItem.author_email) == email,
            func.lower(HeldItem.committer_email) == email,
        ),
    )
    approved = exists().where(
        Decision.request_id == ApprovalRequest.id,
        Decision.reviewer_id == reviewer.id,
        Decision.verdict == "approve",
        Decision.withdrawn_at.is_(None),
    )
    candidates = db.session.scalars(
        select(ApprovalRequest)
        .where(
            ApprovalRequest.state == "pending",
            guard_open,
            ~approved,
            ~own_item,
            or_(
                ApprovalRequest.pusher.is_(None),
                func.lower(ApprovalRequest.pusher).not_in([reviewer.username.lower(), email]),
            ),
            or_(
                ApprovalRequest.agent_owner.is_(None),
                func.lower(ApprovalRequest.agent_owner) != email,
            ),
        )
        .order_by(ApprovalRequest.created_at, ApprovalRequest.id)
        .limit(scan)
        .options(
            joinedload(ApprovalRequest.repository),
            selectinload(ApprovalRequest.items).load_only(
                HeldItem.id,
                HeldItem.request_id,
                HeldItem.key,
                HeldItem.kind,
                HeldItem.summary,
                HeldItem.author_email,
                HeldItem.committer_email,
                HeldItem.meta,
            ),
            selectinload(ApprovalRequest.facets),
            selectinload(ApprovalRequest.decisions)
            .joinedload(Decision.reviewer)
            .selectinload(User.groups),
        )
    ).all()
    listed = [r for r in candidates if approval_refusal(r, reviewer, rules) is None]
    return Waiting(listed, len(candidates) == scan)
