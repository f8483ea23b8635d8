"""Webhooks against a real HTTP receiver on 127.0.0.1: delivery, signature, retry, failures."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from tests.support.gitrepo import CLAUDE_TRAILER
from tests.support.receiver import Receiver
from tests.support.server import GatedRepo, LiveServer, add_reviewer, eventually, request_id_from


@pytest.fixture
def app_overrides() -> dict[str, object]:
    return {
        "GATE_WEBHOOK_BACKOFF_SECONDS": 0.05,
        "GATE_WEBHOOK_MAX_ATTEMPTS": 3,
        "GATE_WEBHOOK_ALLOW_PRIVATE": True,  # the receivers listen on 127.0.0.1
    }


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made: list[Receiver] = []

    def make(fail_first: int = 0, failure_body: bytes = b"no") -> Receiver:
        made.append(Receiver(fail_first, failure_body))
        return made[-1]

    yield make  # type: ignore[misc]
    for r in made:
        r.close()


def add_webhook(server: LiveServer, url: str, style: str = "json", events=()) -> str:  # type: ignore[no-untyped-def]
    from gate.server.database import command
    from gate.server.services.actor import Actor
    from gate.server.services.notify import add_webhook as add

    with command(server.app):  # type: ignore[attr-defined]
        return add(url, style, list(events), actor=Actor.cli())[1]


def deliveries(server: LiveServer) -> list[tuple[str, str, int, str | None]]:
    from gate.server.extensions import db
    from gate.server.models import WebhookDelivery

    with server.app.app_context():  # type: ignore[attr-defined]
        rows = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
        return [(d.event, d.state, d.attempts, d.last_error) for d in rows]


def push_held(gated: GatedRepo, branch: str = "main") -> int:
    clone = gated.clone()
    clone.commit("agent", {"train/loop.py": "x = 1\n"}, trailers=[CLAUDE_TRAILER])
    return request_id_from(clone.push(f"HEAD:refs/heads/{branch}").gate_lines)


def test_delivery_is_signed_and_retried(gated: GatedRepo, server: LiveServer, receiver) -> None:  # type: ignore[no-untyped-def]
    hook = receiver(fail_first=1)
    secret = add_webhook(server, hook.url, events=["request.held", "decision.approve"])
    request_id = push_held(gated)
    eventually(lambda: len(hook.received) >= 2, "a retry after the first 500")
    (h1, b1), (h2, b2) = hook.received[:2]
    assert b1 == b2 and h1["X-Gate-Delivery"] == h2["X-Gate-Delivery"], "the same delivery again"
    assert len(h1["Idempotency-Key"]) == 32 and h1["Idempotency-Key"] == h2["Idempotency-Key"]
    expected = "sha256=" + hmac.new(secret.encode(), b2, hashlib.sha256).hexdigest()
    assert h2["X-Gate-Signature-256"] == expected
    body = json.loads(b2)
    assert body["event"] == "request.held" and body["request"]["id"] == request_id
    assert body["request"]["url"].endswith(f"/requests/{request_id}")
    eventually(lambda: deliveries(server) == [("request.held", "delivered", 2, None)], "delivered")

    assert server.reviewer("alice").decide(request_id, "approve", "ok").ok
    eventually(lambda: len(hook.received) == 3, "the decision event")
    assert json.loads(hook.received[2][1])["event"] == "decision.approve"
    assert "request.approved" not in [e for e, *_ in deliveries(server)], "not subscribed"


def test_slack_body(gated: GatedRepo, server: LiveServer, receiver) -> None:  # type: ignore[no-untyped-def]
    hook = receiver()
    add_webhook(server, hook.url, style="slack", events=["request.held"])
    request_id = push_held(gated)
    eventually(lambda: hook.received, "a delivery")
    text = json.loads(hook.received[0][1])["text"]
    assert f"request #{request_id} is waiting for sign-off" in text and "training" in text


def test_slow_receiver_never_blocks_the_hook(
    gated: GatedRepo, server: LiveServer, receiver
) -> None:  # type: ignore[no-untyped-def]
    hook = receiver()
    hook.release.clear()  # the receiver hangs until released
    add_webhook(server, hook.url)
    request_id = push_held(gated)  # returns while the receiver still hangs
    assert not hook.release.is_set() and not hook.received
    hook.release.set()
    eventually(lambda: hook.received, "the delivery once released")
    assert json.loads(hook.received[0][1])["request"]["id"] == request_id
    eventually(lambda: all(state == "delivered" for _, state, *_ in deliveries(server)), "done")


def test_failures_are_visible_to_admins(gated: GatedRepo, server: LiveServer) -> None:
    add_webhook(server, "http://127.0.0.1:9/nothing-listens")
    push_held(gated)
    eventually(lambda: deliveries(server)[0][1] == "failed", "giving up after 3 attempts")
    event, state, attempts, error = deliveries(server)[0]
    assert (event, state, attempts) == ("request.held", "failed", 3) and "ConnectionError" in error
    add_reviewer(server.app, "root", role="admin")
    page = server.reviewer("root").page("/admin/webhooks").text
    assert "Failed and pending deliveries" in page and "ConnectionError" in page


def test_slack_text_escapes_what_a_push_names(
    gated: GatedRepo, server: LiveServer, receiver
) -> None:  # type: ignore[no-untyped-def]
    hook = receiver()
    add_webhook(server, hook.url, style="slack", events=["request.held"])
    push_held(gated, branch="release/<!channel>&<@U123>")
    eventually(lambda: hook.received, "a delivery")
    text = json.loads(hook.received[0][1])["text"]
    assert "refs/heads/release/&lt;!channel&gt;&amp;&lt;@U123&gt;" in text
    assert "<!channel>" not in text and "<@U123>" not in text
    assert text.count("<") == 1 and text.endswith("|Review it>"), "only gate's own link"


def test_a_receivers_response_body_is_never_shown(
    gated: GatedRepo, server: LiveServer, receiver
) -> None:  # type: ignore[no-untyped-def]
    hook = receiver(fail_first=99, failure_body=b"internal: db password hunter2")
    add_webhook(server, hook.url)
    push_held(gated)
    eventually(lambda: deliveries(server)[0][1] == "failed", "giving up after 3 attempts")
    assert deliveries(server)[0][3] == "HTTP 500"
    add_reviewer(server.app, "root", role="admin")
    page = server.reviewer("root").page("/admin/webhooks").text
    assert "HTTP 500" in page and "hunter2" not in page


def test_retry_now_sends_a_failed_webhook_delivery_at_once(
    gated: GatedRepo, server: LiveServer, receiver
) -> None:  # type: ignore[no-untyped-def]
    from gate.server.extensions import db
    from gate.server.models import AuditRecord, WebhookDelivery

    add_reviewer(server.app, "root", role="admin")
    hook = receiver(fail_first=3)  # every one of the three attempts the config allows fails
    add_webhook(server, hook.url, events=["request.held"])
    push_held(gated)
    eventually(
        lambda: deliveries(server) == [("request.held", "failed", 3, "HTTP 500")], "given up"
    )
    with server.app.app_context():  # type: ignore[attr-defined]
        delivery = db.session.scalar(select(WebhookDelivery.id))
    admin = server.reviewer("root")
    refused = admin.post(f"/admin/webhooks/deliveries/{delivery}/retry")
    assert "enter your own password" in refused.text and len(hook.received) == 3
    assert admin.confirmed_post(f"/admin/webhooks/deliveries/{delivery}/retry").ok
    eventually(lambda: deliveries(server) == [("request.held", "delivered", 4, None)], "resent")
    assert len(hook.received) == 4 and hook.received[3][1] == hook.received[0][1]
    with server.app.app_context():  # type: ignore[attr-defined]
        retried = db.session.scalars(
            select(AuditRecord.subject).where(AuditRecord.action == "webhook.delivery_retried")
        ).all()
    assert [(r["state"], r["attempts"]) for r in retried] == [("failed", 3)]
