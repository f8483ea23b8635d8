"""Which token may call which API route, for which repository or request: the whole matrix.

Every route under /api/v1 is listed here (a new route without its row fails
``test_every_api_route_is_in_the_matrix``), and called on a real port with each kind of
credential: a hook token scoped to ``ml/*`` on git host X, one scoped to ``other/*`` on host Y,
the read tokens of two agent accounts, a revoked hook token, a logged-in reviewer's session
cookie, and nothing. Each call is checked for its status and error code, and each refusal for
writing nothing but its own (throttled) ``token.refused`` audit record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from gate import wire
from tests.server.test_api import payload
from tests.server.test_api_wire import push_report
from tests.support.objects import root_commit
from tests.support.server import LiveServer, add_reviewer, agent_token, new_token

SCOPED, OTHER_HOST, AGENT, OTHER_AGENT, REVOKED, SESSION, NONE = (
    "hook ml/* on host-x",
    "hook other/* on host-y",
    "agent-a read",
    "agent-b read",
    "revoked hook",
    "web session",
    "none",
)
CREDENTIALS = (SCOPED, OTHER_HOST, AGENT, OTHER_AGENT, REVOKED, SESSION, NONE)
UNAUTHENTICATED = {REVOKED: 401, SESSION: 401, NONE: 401}


@dataclass(frozen=True)
class Call:
    """One route called on one target, and the status each credential gets."""

    name: str
    rule: str  # the Flask rule it exercises
    method: str
    path: Callable[[dict[str, Any]], str]
    body: Callable[[int], dict[str, Any]] | None
    expect: dict[str, int]


def hold_for(repository: str) -> Callable[[int], dict[str, Any]]:
    def body(n: int) -> dict[str, Any]:
        oid, objects = root_commit(
            {"train/a.py": f"steps = {n}\n".encode()}, "A <a@example.com>", f"change {n}\n"
        )
        template = payload()["items"][0]
        item = wire.commit_item(oid, objects, template["signals"], template["guards"])
        return payload(repository=repository, new=oid, items=[item], pusher="agent-a")

    return body


def report_for(repository: str) -> Callable[[int], dict[str, Any]]:
    return lambda n: push_report(f"{n:032x}", repository=repository)


def heartbeat_for(repository: str) -> dict[str, Any]:
    return wire.heartbeat(
        repository=repository,
        source="post-receive",
        hook_version="0.1.0",
        layout="git",
        sent_at="2026-12-02T00:00:00Z",
        pusher_known=True,
        problems=[],
    )


def reconcile_for(repository: str) -> dict[str, Any]:
    return wire.reconcile_request(
        repository=repository, refs=["refs/heads/main"], commits=[], truncated=False
    )


def refused(statuses: dict[str, int]) -> dict[str, int]:
    return {**{c: 403 for c in CREDENTIALS}, **UNAUTHENTICATED, **statuses}


CALLS = [
    Call("hold in scope", "/api/v1/holds", "post", lambda _: wire.HOLDS_PATH,
         hold_for("ml/a"), refused({SCOPED: 200})),
    Call("hold out of scope", "/api/v1/holds", "post", lambda _: wire.HOLDS_PATH,
         hold_for("secret/b"), refused({})),
    Call("report in scope", "/api/v1/pushes", "post", lambda _: wire.PUSHES_PATH,
         report_for("ml/a"), refused({SCOPED: 200})),
    Call("report out of scope", "/api/v1/pushes", "post", lambda _: wire.PUSHES_PATH,
         report_for("secret/b"), refused({})),
    Call("read agent-a's request", "/api/v1/requests/<id:request_id>", "get",
         lambda seen: wire.request_path(seen["request"]), None,
         refused({AGENT: 200, OTHER_AGENT: 404})),
    Call("read its own scope", "/api/v1/token", "get", lambda _: wire.token_path("ml/a"), None,
         {**UNAUTHENTICATED, SCOPED: 200, OTHER_HOST: 200, AGENT: 200, OTHER_AGENT: 200}),
    Call("heartbeat in scope", "/api/v1/heartbeats", "post", lambda _: wire.HEARTBEATS_PATH,
         lambda n: heartbeat_for("ml/a"), refused({SCOPED: 200})),
    Call("heartbeat out of scope", "/api/v1/heartbeats", "post", lambda _: wire.HEARTBEATS_PATH,
         lambda n: heartbeat_for("secret/b"), refused({})),
    Call("reconcile in scope", "/api/v1/reconcile", "post", lambda _: wire.RECONCILE_PATH,
         lambda n: reconcile_for("ml/a"), refused({SCOPED: 200})),
    Call("reconcile out of scope", "/api/v1/reconcile", "post", lambda _: wire.RECONCILE_PATH,
         lambda n: reconcile_for("secret/b"), refused({})),
    Call("read the signing-key registry", "/api/v1/keys", "get", lambda _: wire.KEYS_PATH, None,
         refused({SCOPED: 200, OTHER_HOST: 200})),
]  # fmt: skip


@pytest.fixture
def world(server: LiveServer) -> dict[str, Any]:
    """The credentials, and one pending request pushed by agent-a in ml/a."""
    app = server.app
    secrets = {
        SCOPED: new_token(app, "ml/*", host="host-x"),
        OTHER_HOST: new_token(app, "other/*", host="host-y"),
        AGENT: agent_token(app, "agent-a"),
        OTHER_AGENT: agent_token(app, "agent-b"),
        REVOKED: new_token(app, "ml/*", host="host-x"),
    }
    from gate.server.database import command
    from gate.server.services.accounts import revoke_token, token_for_secret
    from gate.server.services.actor import Actor

    with command(app):
        revoke_token(token_for_secret(secrets[REVOKED]).id, actor=Actor.cli())  # type: ignore[union-attr]
    held = requests.post(
        f"{server.url}{wire.HOLDS_PATH}",
        json=hold_for("ml/a")(10**6),
        headers={"Authorization": f"Bearer {secrets[SCOPED]}"},
        timeout=30,
    )
    assert held.status_code == 200, held.text
    add_reviewer(app, "rita")
    return {
        "secrets": secrets,
        "session": server.reviewer("rita").http,
        "request": held.json()["items"][0]["request_id"],
    }


def call(server: LiveServer, world: dict[str, Any], c: Call, who: str, n: int) -> Any:
    http = world["session"] if who == SESSION else requests
    headers = {}
    if who in world["secrets"]:
        headers["Authorization"] = f"Bearer {world['secrets'][who]}"
    kwargs: dict[str, Any] = {"headers": headers, "timeout": 30}
    if c.body is not None:
        kwargs["json"] = c.body(n)
    return http.request(c.method, f"{server.url}{c.path(world)}", **kwargs)


def written(server: LiveServer) -> dict[str, Any]:
    """What a call could write: rows of every table it touches, and audit actions other than
    the token's own use and refusal records."""
    from gate.server.extensions import db
    from gate.server.models import (
        ApprovalRequest,
        AuditRecord,
        HeldItem,
        PushReport,
        Repository,
    )

    with server.app.app_context():  # type: ignore[attr-defined]
        counts = {
            model.__name__: db.session.scalar(select(func.count()).select_from(model))
            for model in (ApprovalRequest, HeldItem, PushReport, Repository)
        }
        counts["audit"] = list(
            db.session.scalars(
                select(AuditRecord.action)
                .where(AuditRecord.action.not_in(("token.refused", "token.used")))
                .order_by(AuditRecord.seq)
            )
        )
    return counts


def refusals(server: LiveServer) -> list[dict[str, Any]]:
    from gate.server.extensions import db
    from gate.server.models import AuditRecord

    with server.app.app_context():  # type: ignore[attr-defined]
        return list(
            db.session.scalars(
                select(AuditRecord.subject)
                .where(AuditRecord.action == "token.refused")
                .order_by(AuditRecord.seq)
            )
        )


def test_every_api_route_is_in_the_matrix(server: LiveServer) -> None:
    routes = {
        (rule.rule, method.lower())
        for rule in server.app.url_map.iter_rules()  # type: ignore[attr-defined]
        if rule.rule.startswith(wire.API_PREFIX)
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routes == {(c.rule, c.method) for c in CALLS}
    for c in CALLS:
        assert set(c.expect) == set(CREDENTIALS), c.name


@pytest.mark.parametrize("who", CREDENTIALS)
def test_token_scope_matrix(server: LiveServer, world: dict[str, Any], who: str) -> None:
    for n, c in enumerate(CALLS):
        before = written(server)
        response = call(server, world, c, who, n)
        expected = c.expect[who]
        assert response.status_code == expected, (c.name, who, response.text)
        if expected == 200:
            continue
        error = response.json()["error"]
        assert (
            error["code"]
            == {401: "unauthorized", 403: wire.OUT_OF_SCOPE, 404: "not_found"}[expected]
        ), (c.name, who)
        assert error["message"] and "\n" not in error["message"]
        assert written(server) == before, f"{c.name} by {who} wrote something when refused"


def test_refusals_are_audited_once_per_window(server: LiveServer, world: dict[str, Any]) -> None:
    hook = CALLS[1]  # a hold for a repository outside the token's patterns
    for n in range(5):
        assert call(server, world, hook, SCOPED, n).status_code == 403
    first = refusals(server)
    assert len(first) == 1, "a flood of refusals from one token is one record per window"
    assert first[0]["action"] == "hold" and first[0]["target"] == "secret/b"
    assert first[0]["host"] == "host-x" and "does not speak for repository" in first[0]["reason"]
    server.app.config["GATE_TOKEN_REFUSAL_AUDIT_SECONDS"] = 0  # type: ignore[attr-defined]
    assert call(server, world, CALLS[4], SCOPED, 9).status_code == 403
    second = refusals(server)[-1]
    assert second["unrecorded_before"] == 4 and second["action"] == "read"
    assert "hook token cannot read requests" in second["reason"]
    assert call(server, world, CALLS[0], REVOKED, 10).status_code == 401
    assert refusals(server)[-1]["reason"] == "revoked token"
    assert call(server, world, CALLS[4], OTHER_AGENT, 11).status_code == 404
    hidden = refusals(server)[-1]
    assert hidden["agent"] == "agent-b" and hidden["kind"] == "agent-read"


def test_first_use_of_a_token_each_day_is_audited(
    server: LiveServer, world: dict[str, Any]
) -> None:
    from gate.server.extensions import db
    from gate.server.models import AuditRecord

    for n in range(3):
        assert call(server, world, CALLS[4], AGENT, n).status_code == 200
    with server.app.app_context():  # type: ignore[attr-defined]
        used = list(
            db.session.scalars(select(AuditRecord).where(AuditRecord.action == "token.used"))
        )
    by_kind = {(r.subject["kind"], r.actor_auth) for r in used}
    assert by_kind == {("hook", "hook-token"), ("agent-read", "agent-read-token")}
    assert len(used) == 2, "three reads and one hold on one day: one record per token"


def test_a_token_reads_its_own_scope_and_nothing_more(
    server: LiveServer, world: dict[str, Any]
) -> None:
    def scope(who: str, repository: str | None) -> dict[str, Any]:
        response = requests.get(
            f"{server.url}{wire.token_path(repository)}",
            headers={"Authorization": f"Bearer {world['secrets'][who]}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return wire.parse_token_scope(response.json())

    assert scope(SCOPED, "ml/a") == wire.token_scope(
        kind="hook",
        host="host-x",
        repositories=["ml/*"],
        all_repositories=False,
        unscoped=False,
        agent=None,
        covers=True,
    )
    assert scope(SCOPED, "ml/a/b")["covers"] is False
    assert scope(OTHER_HOST, "ml/a")["covers"] is False
    assert scope(SCOPED, None)["covers"] is None
    reader = scope(AGENT, "ml/a")
    assert (reader["kind"], reader["agent"], reader["covers"]) == ("agent-read", "agent-a", None)
