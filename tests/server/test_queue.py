"""The queue with ten thousand requests: filters, search, pagination, and a constant number of
SQL statements per page whatever the number of rows shown."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from tests.support.server import add_reviewer
from tests.support.sql import statements

N = 10_000


def key(i: int) -> str:
    return hashlib.sha1(str(i).encode()).hexdigest()


def populate(app) -> None:  # type: ignore[no-untyped-def]
    from gate.server.extensions import db
    from gate.server.models import (
        ApprovalRequest,
        Decision,
        HeldItem,
        Repository,
        RequestFacet,
        User,
    )

    with app.app_context():
        db.session.execute(insert(Repository), [{"id": 1, "name": "ml"}, {"id": 2, "name": "web"}])
        start = datetime(2026, 1, 1, tzinfo=UTC)
        states = ("pending", "approved", "denied", "superseded")
        requests, items, facets = [], [], []
        for i in range(1, N + 1):
            guard = "model" if i % 3 == 0 else "training"
            requests.append(
                {
                    "id": i,
                    "repository_id": 1 + (i % 2),
                    "ref": "refs/heads/main",
                    "pusher": f"agent-{i % 7}",
                    "old": "0" * 40,
                    "new": f"{i:040x}",
                    "state": states[i % 4],
                    "required": {guard: 2 if guard == "model" else 1},
                    "policy_sha256": "a" * 64,
                    "created_at": start + timedelta(minutes=i),
                }
            )
            items.append(
                {
                    "request_id": i,
                    "repository_id": 1 + (i % 2),
                    "key": key(i),
                    "kind": "commit",
                    "active": True,
                    "summary": f"change number {i}",
                    "message": f"change number {i}\n\nbody {'needle' if i == 4242 else 'hay'}",
                    "meta": {},
                    "signals": [],
                    "guards": {guard: ["x"]},
                    "diffs": [],
                }
            )
            facets.append({"request_id": i, "kind": "guard", "value": guard})
            facets.append({"request_id": i, "kind": "agent", "value": f"Agent {i % 5}"})
        db.session.execute(insert(ApprovalRequest), requests)
        db.session.execute(insert(HeldItem), items)
        db.session.execute(insert(RequestFacet), facets)
        bob = db.session.scalar(select(User.id).where(User.username == "bob"))
        decisions = [
            {
                "request_id": i,
                "reviewer_id": bob,
                "verdict": "approve",
                "comment": "",
                "created_at": start,
            }
            for i in range(4, N + 1, 40)
        ]
        db.session.execute(insert(Decision), decisions)
        db.session.commit()


@pytest.fixture
def big(app):  # type: ignore[no-untyped-def]
    add_reviewer(app, "alice")
    add_reviewer(app, "bob")
    populate(app)
    return app


def client_as(app, username: str):  # type: ignore[no-untyped-def]
    from gate.server.extensions import db
    from gate.server.models import User

    with app.app_context():
        # The session names the user with their session version (User.get_id).
        session_id = db.session.scalar(select(User).where(User.username == username)).get_id()
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = session_id
        session["_fresh"] = True
        session["_id"] = secrets.token_hex(8)
    return client


def test_statement_count_does_not_grow_with_rows(big) -> None:  # type: ignore[no-untyped-def]
    client = client_as(big, "alice")
    assert client.get("/requests").status_code == 200  # once-per-process work happens first
    counts = {}
    for size in (5, 50, 200):
        big.config["GATE_QUEUE_PAGE_SIZE"] = size
        with statements(big) as seen:
            response = client.get("/requests")
        assert response.status_code == 200
        assert response.text.count('href="/requests/') >= size
        counts[size] = len(seen)
    # The 5-row page has no decisions, so one eager load (reviewers' groups) has nothing to load.
    assert counts[5] <= counts[50] == counts[200] < 20, counts


def test_pending_first_and_pagination(big) -> None:  # type: ignore[no-untyped-def]
    from gate.server.services.queue import QueueFilters, search_requests

    with big.app_context():
        page = search_requests(QueueFilters(), 1, 50)
        assert page.total == N and page.pages == N // 50
        assert {r.state for r in page.requests} == {"pending"}
        assert page.requests[0].id == 10_000 - (10_000 % 4)  # newest pending first
        last = search_requests(QueueFilters(), 10**6, 50)
        assert last.page == last.pages and last.requests


FILTER_CASES = [
    ({"state": "denied"}, N // 4),
    ({"guard": "model"}, N // 3),
    ({"guard": "model", "state": "pending"}, len([i for i in range(1, N + 1) if i % 12 == 0])),
    ({"agent": "Agent 3"}, N // 5),
    ({"repository": "web"}, N // 2),
    ({"reviewer": "bob"}, len(range(4, N + 1, 40))),
    ({"q": "needle"}, 1),
    ({"q": key(4242)[:10]}, 1),
    ({"q": "%"}, 0),
    ({"state": "nonsense"}, N),
]


def test_filters(big) -> None:  # type: ignore[no-untyped-def]
    from gate.server.services.queue import QueueFilters, search_requests

    with big.app_context():
        for args, expected in FILTER_CASES:
            page = search_requests(QueueFilters.from_args(args), 1, 50)
            assert page.total == expected, args


def test_filtered_page_lists_only_matches(big) -> None:  # type: ignore[no-untyped-def]
    response = client_as(big, "alice").get("/requests?q=needle")
    assert response.status_code == 200
    assert "Request #4242" in response.text and "1 request matches" in response.text


def _reference_page(filters, page: int, per_page: int) -> list[int]:  # type: ignore[no-untyped-def]
    """The queue's order as one plain sort of every match: pending first, then newest first."""
    from sqlalchemy import case

    from gate.server.extensions import db
    from gate.server.models import ApprovalRequest
    from gate.server.services.queue import _conditions

    pending_first = case((ApprovalRequest.state == "pending", 0), else_=1)
    return list(
        db.session.scalars(
            select(ApprovalRequest.id)
            .where(*_conditions(filters))
            .order_by(pending_first, ApprovalRequest.created_at.desc(), ApprovalRequest.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    )


@pytest.mark.parametrize(
    "args",
    [{}, {"guard": "model"}, {"state": "approved"}, {"agent": "Agent 3", "repository": "ml"}],
)
def test_pages_match_a_full_sort(big, args) -> None:  # type: ignore[no-untyped-def]
    """Each page (first, last, and those where pending requests give way to the rest) holds
    exactly the rows a sort of all matching requests would put there."""
    from gate.server.extensions import db
    from gate.server.models import ApprovalRequest
    from gate.server.services.queue import QueueFilters, _conditions, search_requests

    with big.app_context():
        # Ties on created_at must still break by id, newest first.
        db.session.execute(
            ApprovalRequest.__table__.update()
            .where(ApprovalRequest.id.in_([9_990, 9_991, 9_992, 9_993, 9_994, 12, 13, 16]))
            .values(created_at=datetime(2026, 6, 1, tzinfo=UTC))
        )
        db.session.commit()
        filters = QueueFilters.from_args(args)
        for per_page in (7, 50):
            first = search_requests(filters, 1, per_page)
            pending = len(
                db.session.scalars(
                    select(ApprovalRequest.id).where(
                        *_conditions(filters), ApprovalRequest.state == "pending"
                    )
                ).all()
            )
            boundary = pending // per_page + 1
            for page in {1, 2, boundary - 1, boundary, boundary + 1, first.pages}:
                if not 1 <= page <= first.pages:
                    continue
                shown = [r.id for r in search_requests(filters, page, per_page).requests]
                assert shown == _reference_page(filters, page, per_page), (args, per_page, page)


def test_filter_options_list_each_value_once_in_order(big) -> None:  # type: ignore[no-untyped-def]
    from gate.server.extensions import db
    from gate.server.models import RequestFacet
    from gate.server.services.queue import filter_options

    with big.app_context():
        db.session.add(RequestFacet(request_id=1, kind="agent", value="Aardvark"))
        db.session.commit()
        options = filter_options()
        for kind in ("guard", "agent"):
            expected = sorted(
                set(db.session.scalars(select(RequestFacet.value).where(RequestFacet.kind == kind)))
            )
            assert options[kind] == expected
        assert options["agent"][0] == "Aardvark"
