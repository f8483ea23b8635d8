"""The server records every hold a checked policy can produce, and refuses beyond its limits.

The limits are gate.git.policy.limits, the ones ``gate policy check`` enforces: a policy that
passes the check must never make the server refuse a held push.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from gate.git.policy.limits import MAX_APPROVALS, MAX_EMAIL, MAX_GUARD_NAME, MAX_PUSHER_NAME
from gate.server.services.actor import Actor
from tests.support.auditlog import commit_item
from tests.support.server import LiveServer, new_token

LONGEST_GUARD = "g" * MAX_GUARD_NAME
LONGEST_PUSHER = "p" * MAX_PUSHER_NAME
LONGEST_EMAIL = "o" * (MAX_EMAIL - len("@x.org")) + "@x.org"


def hold(server: LiveServer, guard: str, approvals: int, pusher: str, email: str):  # type: ignore[no-untyped-def]
    item = commit_item(1, guard)
    body: dict[str, Any] = {
        "repository": "r",
        "ref": "refs/heads/main",
        "old": "0" * 40,
        "new": item["key"],
        "pusher": pusher,
        "policy": {"sha256": "b" * 64, "approvals": {guard: approvals}, "owners": {pusher: email}},
        "items": [item],
    }
    headers = {"Authorization": f"Bearer {new_token(server.app)}"}
    return requests.post(f"{server.url}/api/v1/holds", json=body, headers=headers, timeout=10)


def test_a_hold_at_every_limit_is_recorded(server: LiveServer) -> None:
    from gate.server.extensions import db
    from gate.server.models import ApprovalRequest, RequestFacet
    from gate.server.services.groups import add_group, set_guard_groups

    answer = hold(server, LONGEST_GUARD, MAX_APPROVALS, LONGEST_PUSHER, LONGEST_EMAIL)
    assert answer.status_code == 200, answer.text
    with server.app.app_context():
        request = db.session.scalars(db.select(ApprovalRequest)).one()
        assert request.required == {LONGEST_GUARD: MAX_APPROVALS}
        assert request.agent_owner == LONGEST_EMAIL
        facets = db.session.scalars(db.select(RequestFacet.value)).all()
        assert LONGEST_GUARD in facets
        group = add_group("weights reviewers", actor=Actor.cli("admin"))
        set_guard_groups(LONGEST_GUARD, [group.id], actor=Actor.cli("admin"))
        db.session.commit()


@pytest.mark.parametrize(
    ("guard", "approvals", "pusher", "email"),
    [
        ("g", MAX_APPROVALS + 1, "agent", "o@x.org"),
        ("g", 1, LONGEST_PUSHER + "p", "o@x.org"),
        ("g", 1, "agent", "o" + LONGEST_EMAIL),
    ],
)
def test_beyond_a_limit_the_server_refuses(
    server: LiveServer, guard: str, approvals: int, pusher: str, email: str
) -> None:
    answer = hold(server, guard, approvals, pusher, email)
    assert answer.status_code == 400, answer.text


def test_a_longer_guard_name_cannot_be_given_reviewer_groups(server: LiveServer) -> None:
    from gate.server.services import ServiceError
    from gate.server.services.groups import add_group, set_guard_groups

    with server.app.app_context(), pytest.raises(ServiceError, match="at most"):
        set_guard_groups(
            LONGEST_GUARD + "g",
            [add_group("g", actor=Actor.cli("admin")).id],
            actor=Actor.cli("admin"),
        )
