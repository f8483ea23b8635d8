"""E-mail to the reviewers who may approve a held request, against a real SMTP server (aiosmtpd)
on 127.0.0.1, through the delivery outbox: sent after the hold commits, retried while the
server is down, sent again at once by an admin's "retry now"; and "send test" on a webhook.
Real pushes through the hook; the admin's buttons pressed over real HTTP."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes
from typing import Any

import pytest
from sqlalchemy import select

from gate.server.extensions import db
from gate.server.models import AuditRecord, WebhookDelivery
from tests.support.gitrepo import CLAUDE_TRAILER
from tests.support.receiver import Receiver
from tests.support.server import GatedRepo, LiveServer, add_reviewer, eventually, request_id_from

AGENT = ("Build Bot", "ci@bots.example.com")


class Inbox:
    """A real SMTP server on 127.0.0.1 that keeps every message it accepts."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.messages: list[tuple[list[str], Any]] = []
        self.lock = threading.Lock()
        self.controller: Any = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture
def app_overrides(inbox: Inbox) -> dict[str, object]:
    return {
        "GATE_SMTP_HOST": "127.0.0.1",
        "GATE_SMTP_PORT": inbox.port,
        "GATE_SMTP_FROM": "gate@example.com",
        "GATE_WEBHOOK_BACKOFF_SECONDS": 3600,  # a failed send waits: only "retry now" resends
        "GATE_WEBHOOK_MAX_ATTEMPTS": 5,
        "GATE_WEBHOOK_ALLOW_PRIVATE": True,
    }


def held(gated: GatedRepo, branch: str, author: tuple[str, str]) -> int:
    clone = gated.clone()
    clone.commit("initial", {"train/loop.py": "x = 0\n"})
    clone.push()
    clone.run("checkout", "-q", "-b", branch)
    clone.commit(
        "agent", {"train/loop.py": f"x = '{branch}'\n"}, author=author, trailers=[CLAUDE_TRAILER]
    )
    result = clone.push(f"HEAD:refs/heads/{branch}")
    assert not result.ok
    return request_id_from(result.gate_lines)


def email_deliveries(server: LiveServer) -> list[tuple[str | None, str, int, str | None]]:
    with server.app.app_context():  # type: ignore[attr-defined]
        rows = db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.email_to.is_not(None))
            .order_by(WebhookDelivery.email_to, WebhookDelivery.id)
        ).all()
        return [(d.email_to, d.state, d.attempts, d.last_error) for d in rows]


def actions(server: LiveServer) -> list[str]:
    with server.app.app_context():  # type: ignore[attr-defined]
        return list(db.session.scalars(select(AuditRecord.action).order_by(AuditRecord.seq)))


def test_reviewers_who_may_approve_get_an_email(
    gated: GatedRepo, server: LiveServer, inbox: Inbox
) -> None:
    add_reviewer(server.app, "audrey", role="auditor")
    request_id = held(gated, "release/1", ("Carol", "carol@example.com"))
    eventually(lambda: len(inbox.messages) == 2, "two e-mails")
    by_rcpt = {rcpt[0]: message for rcpt, message in inbox.messages}
    # Not carol (she wrote the commit), not the auditor: alice and bob may approve.
    assert sorted(by_rcpt) == ["alice@example.com", "bob@example.com"]
    message = by_rcpt["alice@example.com"]
    assert message["From"] == "gate@example.com"
    assert f"request #{request_id} waits for your sign-off" in message["Subject"]
    assert f"/requests/{request_id}" in message.get_payload()
    # The SMTP server has the message before the sender records the delivery: wait for that.
    eventually(
        lambda: (
            [(to, state) for to, state, _, _ in email_deliveries(server)]
            == [("alice@example.com", "delivered"), ("bob@example.com", "delivered")]
        ),
        "both deliveries recorded",
    )


def test_a_guard_restricted_to_a_group_mails_only_its_members(
    gated: GatedRepo, server: LiveServer, inbox: Inbox
) -> None:
    """An admin restricted the training guard to a reviewer group: only its member may
    approve, so only she is told; alice, who may approve other guards, gets nothing."""
    from gate.server.database import command
    from gate.server.models import User
    from gate.server.services.actor import Actor
    from gate.server.services.groups import add_group, set_guard_groups, set_members

    with command(server.app):  # type: ignore[attr-defined]
        group = add_group("training leads", actor=Actor.cli("admin"))
        bob = db.session.scalars(select(User).where(User.username == "bob")).one()
        set_members(group.id, [bob.id], actor=Actor.cli("admin"))
        set_guard_groups("training", [group.id], actor=Actor.cli("admin"), not_pushed_yet=True)
    request_id = held(gated, "release/2", ("Carol", "carol@example.com"))
    # The hold queues every e-mail in its own transaction: once they are all sent, none is
    # still to come.
    eventually(
        lambda: {state for _, state, _, _ in email_deliveries(server)} == {"delivered"},
        "the e-mails sent",
    )
    assert [(to, state) for to, state, _, _ in email_deliveries(server)] == [
        ("bob@example.com", "delivered")
    ]
    [(recipients, message)] = inbox.messages
    assert recipients == ["bob@example.com"]
    assert f"request #{request_id} waits for your sign-off" in message["Subject"]


def test_a_down_smtp_server_is_retried_and_retry_now_sends_at_once(
    gated: GatedRepo, server: LiveServer, inbox: Inbox
) -> None:
    add_reviewer(server.app, "root", role="admin")
    inbox.stop()
    held(gated, "release/2", AGENT)
    eventually(
        lambda: (
            all(
                state == "pending" and tries == 1 for _, state, tries, _ in email_deliveries(server)
            )
            and len(email_deliveries(server)) == 4
        ),
        "four failed first attempts",
    )
    assert all("Connection" in (error or "") for *_, error in email_deliveries(server))
    inbox.start()
    admin = server.reviewer("root")
    page = admin.page("/admin/webhooks").text
    assert "e-mail to alice@example.com" in page
    with server.app.app_context():  # type: ignore[attr-defined]
        first = db.session.scalar(
            select(WebhookDelivery.id).where(WebhookDelivery.email_to == "alice@example.com")
        )
    # Without the admin's password nothing is retried.
    refused = admin.post(f"/admin/webhooks/deliveries/{first}/retry")
    assert "enter your own password" in refused.text
    assert "webhook.delivery_retried" not in actions(server)
    assert admin.confirmed_post(f"/admin/webhooks/deliveries/{first}/retry").ok
    eventually(lambda: len(inbox.messages) == 1, "the retried e-mail")
    assert inbox.messages[0][0] == ["alice@example.com"]

    def states() -> dict[str, tuple[str, int]]:
        return {to: (state, tries) for to, state, tries, _ in email_deliveries(server)}

    # The SMTP server has the message before the sender records it as delivered.
    eventually(lambda: states()["alice@example.com"] == ("delivered", 2), "alice's delivery")
    assert states()["bob@example.com"] == ("pending", 1)  # still waiting for its back-off
    assert "webhook.delivery_retried" in actions(server)


def test_send_test_to_a_webhook(gated: GatedRepo, server: LiveServer) -> None:
    from gate.server.database import command
    from gate.server.services.actor import Actor
    from gate.server.services.notify import add_webhook

    add_reviewer(server.app, "root", role="admin")
    receiver = Receiver()
    try:
        with command(server.app):  # type: ignore[arg-type]
            hook, _ = add_webhook(receiver.url, "json", ["request.denied"], actor=Actor.cli())
            hook_id = hook.id
        admin = server.reviewer("root")
        assert admin.post(f"/admin/webhooks/{hook_id}/test").ok
        assert "webhook.test_sent" not in actions(server)
        assert admin.confirmed_post(f"/admin/webhooks/{hook_id}/test").ok
        eventually(lambda: receiver.received, "the test delivery")
        headers, body = receiver.received[0]
        assert headers["X-Gate-Event"] == "webhook.test"
        assert b"a test delivery to webhook" in body
        assert "webhook.test_sent" in actions(server)
    finally:
        receiver.close()
