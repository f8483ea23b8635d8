"""The reviewers' queue: filtered, searched and paginated requests in a constant number of queries.

Read-only. Filters use indexed columns and the ``request_facets`` table (guards and agents of a
request), and each page loads its rows' repository, item summaries, facets and decisions with
one ``selectinload`` query per relationship, never one query per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.orm import joinedload, selectinload

from gate.extensions import db
from gate.models import (
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


def search_requests(filters: QueueFilters, page: int, per_page: int) -> QueuePage:
    where = _conditions(filters)
    total = db.session.scalar(select(func.count(ApprovalRequest.id)).where(*where)) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    pending_first = case((ApprovalRequest.state == "pending", 0), else_=1)
    rows = db.session.scalars(
        select(ApprovalRequest)
        .where(*where)
        .order_by(pending_first, ApprovalRequest.created_at.desc(), ApprovalRequest.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
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
        return list(
            db.session.scalars(
                select(RequestFacet.value)
                .where(RequestFacet.kind == kind)
                .distinct()
                .order_by(RequestFacet.value)
            )
        )

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
