"""Holding many items at once: bulk inserts give the same answers, gzip bodies, concurrent posts.

The service answers must not depend on how the rows were written: per key its request and
state, one request per push of new items, and the existing request for items already waiting.
"""

from __future__ import annotations

import gzip
import json
import threading
from typing import Any

import requests
from sqlalchemy import func, select

from gate.server.services.actor import Actor
from tests.support.audit import audit_problems
from tests.support.auditlog import approve, commit_item, report
from tests.support.auditlog import push as hook_push
from tests.support.reading import view_as
from tests.support.server import LiveServer, new_token

ALICE = Actor("alice", "session-password")


def push(app, items):  # type: ignore[no-untyped-def]
    """Hold reports with no authenticated pusher: they never supersede (see hold_body)."""
    return hook_push(app, items, pusher=None)


def setup_app(app) -> None:  # type: ignore[no-untyped-def]
    from gate.server.database import command
    from gate.server.services.accounts import add_user, create_hook_token

    with command(app):
        add_user(
            "alice",
            "Alice Reviewer",
            "alice@example.com",
            "correct horse battery staple",
            actor=ALICE,
        )
        create_hook_token("test-host", [], all_repositories=True, actor=ALICE)


def actions(app) -> list[str]:  # type: ignore[no-untyped-def]
    from gate.server.extensions import db
    from gate.server.models import AuditRecord

    with app.app_context():
        return list(db.session.scalars(select(AuditRecord.action).order_by(AuditRecord.seq)))


def active_duplicates(app) -> int:  # type: ignore[no-untyped-def]
    from gate.server.extensions import db
    from gate.server.models import HeldItem

    with app.app_context():
        counts = db.session.execute(
            select(HeldItem.key, func.count())
            .where(HeldItem.active.is_(True))
            .group_by(HeldItem.repository_id, HeldItem.key)
            .having(func.count() > 1)
        ).all()
    return len(counts)


def test_bulk_hold_of_many_items_answers_per_key(app) -> None:  # type: ignore[no-untyped-def]
    setup_app(app)
    first = [commit_item(n, "train") for n in range(1200)]  # more keys than one IN chunk
    answer = push(app, first)
    ids = {item["request_id"] for item in answer["items"]}
    assert len(ids) == 1 and [i["key"] for i in answer["items"]] == [i["key"] for i in first]
    assert {i["state"] for i in answer["items"]} == {"pending"}
    (request_id,) = ids
    assert [r["id"] for r in answer["requests"]] == [request_id]
    assert answer["requests"][0]["approvals"] == {"train": {"given": 0, "needed": 1}}

    again = push(app, first)
    assert again["items"] == answer["items"]

    more = first[600:] + [commit_item(n, "model") for n in range(1200, 1300)]
    mixed = push(app, more)
    by_key = {i["key"]: i["request_id"] for i in mixed["items"]}
    assert {by_key[i["key"]] for i in first[600:]} == {request_id}
    (second,) = {by_key[i["key"]] for i in more[600:]} - {request_id}
    assert {r["id"] for r in mixed["requests"]} == {request_id, second}
    assert actions(app).count("request.held") == 2

    approve(app, request_id, "alice")
    approved = push(app, first)
    assert {i["state"] for i in approved["items"]} == {"approved"}
    assert approved["requests"][0]["approved_by"] == ["Alice Reviewer <alice@example.com>"]
    assert {i["state"] for i in push(app, more)["items"]} == {"approved", "pending"}
    assert actions(app).count("push.allowed") == 1
    assert active_duplicates(app) == 0
    assert audit_problems(app) == []

    from gate.server.extensions import db
    from gate.server.models import HeldItem

    with app.app_context():
        item = db.session.scalar(select(HeldItem).where(HeldItem.key == first[5]["key"]))
        verified = report([first[5]]).items[0]  # the server's own reading of the objects
        assert item.diffs == verified["diffs"] and item.guards == first[5]["guards"]
        assert "+x = 5" in item.diffs[0]["files"][0]["patch"]
        assert item.content_sha256 == verified["content_sha256"] is not None
        assert item.summary == "change 5" and item.author_email == "ci@bots.example.com"


def hold_body(items: list[dict[str, Any]], pusher: str | None = None) -> dict[str, Any]:
    """A hook's hold report. No pusher by default: a known pusher's new items supersede its
    older pending request for the ref (issue 3), which these bulk-path tests are not about."""
    return {
        "repository": "repo",
        "ref": "refs/heads/main",
        "old": "0" * 40,
        "new": items[-1]["key"],
        "pusher": pusher,
        "policy": {"sha256": "ab" * 32, "approvals": {"train": 1}},
        "items": items,
    }


def post_raw(server: LiveServer, token: str, data: bytes, **headers: str) -> requests.Response:
    return requests.post(
        f"{server.url}/api/v1/holds",
        data=data,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", **headers},
        timeout=30,
    )


def test_gzip_body_gives_the_same_answer(server: LiveServer) -> None:
    token = new_token(server.app)
    body = json.dumps(hold_body([commit_item(n, "train") for n in range(50)])).encode()
    zipped = post_raw(server, token, gzip.compress(body), **{"Content-Encoding": "gzip"})
    plain = post_raw(server, token, body)
    assert zipped.status_code == plain.status_code == 200, zipped.text
    assert zipped.json() == plain.json()


def test_gzip_errors_are_refused_with_one_shape(server: LiveServer) -> None:
    token = new_token(server.app)
    body = json.dumps(hold_body([commit_item(1, "train")])).encode()
    cases = [
        (b"not gzip at all", {"Content-Encoding": "gzip"}, 400),
        (gzip.compress(body)[:-8], {"Content-Encoding": "gzip"}, 400),  # truncated
        (gzip.compress(body) + b"junk", {"Content-Encoding": "gzip"}, 400),
        (body, {"Content-Encoding": "br"}, 415),
        (gzip.compress(b'{"repository": "\\udce9"}'), {"Content-Encoding": "gzip"}, 400),
    ]
    for data, headers, status in cases:
        response = post_raw(server, token, data, **headers)
        assert response.status_code == status, (headers, response.text)
        assert set(response.json()["error"]) == {"code", "message"}


def test_gzip_bomb_is_capped(server: LiveServer) -> None:
    token = new_token(server.app)
    server.app.config["MAX_CONTENT_LENGTH"] = 100_000  # type: ignore[attr-defined]
    bomb = gzip.compress(b"[" + b"0," * 1_000_000 + b"0]")  # ~2 MB inflated, a few KB sent
    assert len(bomb) < 100_000
    response = post_raw(server, token, bomb, **{"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_entity_too_large"


def _post_concurrently(
    server: LiveServer, token: str, bodies: list[bytes]
) -> list[requests.Response]:
    barrier = threading.Barrier(len(bodies))
    answers: list[requests.Response] = []

    def client(body: bytes) -> None:
        barrier.wait()
        answers.append(post_raw(server, token, body))

    threads = [threading.Thread(target=client, args=(b,)) for b in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


def test_concurrent_posts_by_one_pusher_supersede_without_duplicates(server: LiveServer) -> None:
    token = new_token(server.app)
    items = [commit_item(n, "train") for n in range(100, 140)]
    bodies = [
        json.dumps(hold_body(items[k : k + 30], pusher="agent-bot")).encode()
        for k in (0, 5, 10, 0, 5, 10)
    ]
    answers = _post_concurrently(server, token, bodies)
    assert [a.status_code for a in answers] == [200] * len(bodies), [a.text for a in answers]
    assert active_duplicates(server.app) == 0
    assert audit_problems(server.app) == []


def test_concurrent_posts_of_the_same_items_make_one_request(server: LiveServer) -> None:
    token = new_token(server.app)
    items = [commit_item(n, "train") for n in range(40)]
    bodies = [json.dumps(hold_body(items[k : k + 30])).encode() for k in (0, 5, 10, 0, 5, 10)]
    answers = _post_concurrently(server, token, bodies)
    assert [a.status_code for a in answers] == [200] * len(bodies), [a.text for a in answers]
    request_of: dict[str, int] = {}
    for answer in answers:
        for item in answer.json()["items"]:
            assert request_of.setdefault(item["key"], item["request_id"]) == item["request_id"]
    assert len(request_of) == 40
    assert active_duplicates(server.app) == 0
    assert audit_problems(server.app) == []


def test_hook_gzips_large_bodies_only() -> None:
    from gate.wire import encode as encode_body

    small = hold_body([commit_item(1, "train")])
    data, headers = encode_body(small)
    assert "Content-Encoding" not in headers and json.loads(data) == small
    large = hold_body([commit_item(n, "train") for n in range(200)])
    data, headers = encode_body(large)
    assert headers["Content-Encoding"] == "gzip" and len(data) < len(json.dumps(large)) / 2
    assert json.loads(gzip.decompress(data)) == large


def test_approval_of_a_request_superseded_meanwhile_is_refused(app) -> None:  # type: ignore[no-untyped-def]
    """The reviewer loaded the request while pending; the same pusher's new push superseded it
    before the approval was recorded: refused, nothing recorded, and the new request waits."""
    import pytest

    from gate.server.extensions import db
    from gate.server.models import ApprovalRequest, AuditRecord, Decision, User
    from gate.server.services import Conflict
    from gate.server.services.decisions import decide, get_request
    from tests.support.auditlog import PASSWORD

    setup_app(app)
    first = hook_push(app, [commit_item(1, "train")])["items"][0]["request_id"]
    view_as(app, first, "alice")  # the reading an approval needs
    with app.app_context():
        alice = db.session.scalar(select(User).where(User.username == "alice"))
        stale = get_request(first)
        assert stale.state == "pending"
        # Another worker, in its own session: a new commit to the same ref by the same pusher.
        answer = hook_push(app, [commit_item(1, "train"), commit_item(2, "train")])
        newer = answer["items"][0]["request_id"]
        records = len(actions(app))
        with pytest.raises(Conflict, match="superseded"):
            decide(stale, alice, "approve", "ok", actor=ALICE, password=PASSWORD, attest=True)
    with app.app_context():
        assert db.session.scalars(select(Decision)).all() == []
        assert db.session.get(ApprovalRequest, first).state == "superseded"  # type: ignore[union-attr]
        assert db.session.get(ApprovalRequest, newer).state == "pending"  # type: ignore[union-attr]
        assert db.session.scalar(select(func.count()).select_from(AuditRecord)) == records
    assert audit_problems(app) == []


def test_approval_racing_a_superseding_push_is_never_lost(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A reviewer approves while the same pusher's next push is between reading its pending
    requests and superseding them: either the approval lands first and the approved request
    stays approved (its commits too), or the push lands first and the approval is refused."""
    from gate.server.database import command
    from gate.server.extensions import db
    from gate.server.models import ApprovalRequest, Decision, HeldItem, User
    from gate.server.services import Conflict
    from gate.server.services import holds as holds_service
    from gate.server.services.decisions import decide, get_request
    from tests.support.auditlog import PASSWORD

    setup_app(app)
    first = hook_push(app, [commit_item(1, "train")])["items"][0]["request_id"]
    view_as(app, first, "alice")  # the reading an approval needs
    read, approved = threading.Event(), threading.Event()
    outcome: list[str] = []
    real = holds_service._supersedable

    def slow_supersedable(repo, report, host):  # type: ignore[no-untyped-def]
        found = real(repo, report, host)
        read.set()
        approved.wait(3)  # with the push's locks held, the approval cannot finish: time out
        return found

    def reviewer() -> None:
        read.wait(30)
        with command(app):
            alice = db.session.scalar(select(User).where(User.username == "alice"))
            try:
                decide(
                    get_request(first),
                    alice,
                    "approve",
                    "ok",
                    actor=ALICE,
                    password=PASSWORD,
                    attest=True,
                )
                outcome.append("approved")
            except Conflict:
                outcome.append("conflict")
        approved.set()

    monkeypatch.setattr(holds_service, "_supersedable", slow_supersedable)
    thread = threading.Thread(target=reviewer)
    thread.start()
    answer = hook_push(app, [commit_item(1, "train"), commit_item(2, "train")])
    thread.join(60)
    with app.app_context():
        state = db.session.get(ApprovalRequest, first).state  # type: ignore[union-attr]
        decisions = db.session.scalars(select(Decision)).all()
        first_active = db.session.scalars(
            select(HeldItem.active).where(HeldItem.request_id == first)
        ).all()
    if outcome == ["approved"]:
        assert state == "approved" and first_active == [True] and len(decisions) == 1
        assert answer["items"][0]["state"] == "approved"
    else:
        assert outcome == ["conflict"] and state == "superseded" and decisions == []
    assert audit_problems(app) == []


def test_approval_and_a_new_policys_first_push_do_not_deadlock(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A reviewer's approval and a push that brings a policy the server has not seen yet, on
    the same pusher's request. The push appends policy.seen (audit lock), then locks the
    pending requests it supersedes; the approval writes its decision (locking the request
    row's key), then appends. Here the approval has written and waits, then the push runs as
    far as it can before the approval appends. With the audit lock taken first by both, the
    push waits for the approval and both finish; in the old order each held what the other
    waited for (PostgreSQL aborted one of them as a deadlock)."""
    import dataclasses
    import time

    from gate.server.database import command, committed
    from gate.server.extensions import db
    from gate.server.models import ApprovalRequest, HookToken, User
    from gate.server.services import Conflict
    from gate.server.services import audit as audit_module
    from gate.server.services import holds as holds_service
    from gate.server.services.decisions import decide, get_request
    from tests.support.auditlog import PASSWORD, report

    setup_app(app)
    first = hook_push(app, [commit_item(1, "train")])["items"][0]["request_id"]
    view_as(app, first, "alice")  # the reading an approval needs
    reviewer_waits, push_locked = threading.Event(), threading.Event()
    outcome: list[str] = []
    real_append, real_supersedable = audit_module.append, holds_service._supersedable

    def append(*args, **kwargs):  # type: ignore[no-untyped-def]
        if threading.current_thread().name == "reviewer" and not reviewer_waits.is_set():
            reviewer_waits.set()
            if push_locked.wait(3):  # the push got past policy.seen: let it reach the rows
                time.sleep(0.3)
        return real_append(*args, **kwargs)

    def supersedable(repo, report, host):  # type: ignore[no-untyped-def]
        push_locked.set()
        return real_supersedable(repo, report, host)

    def reviewer() -> None:
        with command(app):
            alice = db.session.scalar(select(User).where(User.username == "alice"))
            try:
                decide(
                    get_request(first),
                    alice,
                    "approve",
                    "ok",
                    actor=ALICE,
                    password=PASSWORD,
                    attest=True,
                )
                outcome.append("approved")
            except Conflict:
                outcome.append("conflict")
            except Exception as exc:  # a deadlock surfaces here or in the push
                outcome.append(f"error: {type(exc).__name__}: {exc}")

    monkeypatch.setattr(audit_module, "append", append)
    monkeypatch.setattr(holds_service, "_supersedable", supersedable)
    thread = threading.Thread(target=reviewer, name="reviewer")
    thread.start()
    assert reviewer_waits.wait(30)
    new_policy = dataclasses.replace(
        report([commit_item(1, "train"), commit_item(2, "train")]), policy_sha256="cd" * 32
    )
    with app.app_context():
        answer = committed(
            lambda: holds_service.record_holds(new_policy, db.session.get(HookToken, 1))
        )
    thread.join(60)
    assert outcome == ["approved"], outcome
    with app.app_context():
        assert db.session.get(ApprovalRequest, first).state == "approved"  # type: ignore[union-attr]
    assert answer["items"][0]["state"] == "approved"
    assert answer["items"][1]["state"] == "pending"
    assert audit_problems(app) == []


def test_each_path_caps_what_a_small_gzip_body_inflates_to(server: LiveServer) -> None:
    """Not 512 MiB for everything: a report is capped far below a hold, each after gunzip."""
    from gate import wire

    token = new_token(server.app)
    for path, limit in wire.BODY_LIMITS.items():
        bomb = gzip.compress(b'{"x": "' + b"0" * limit + b'"}', 1)
        assert len(bomb) < limit // 100
        response = requests.post(
            f"{server.url}{path}",
            data=bomb,
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
            },
            timeout=60,
        )
        assert response.status_code == 413, (path, response.text)
        assert f"exceeds {limit} bytes" in response.json()["error"]["message"]
