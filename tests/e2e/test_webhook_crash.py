"""A gate server killed (SIGKILL) while a webhook delivery is on the wire (issue 15 point 4):
the next server process sends it once the dead one's claim runs out, with the same
Idempotency-Key, so the receiver can tell the repeat; nothing stalls the queue. Real gunicorn,
real HTTP, on SQLite (where the claim's times once compared naive with aware) or PostgreSQL."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from gate import wire
from tests.support.auditlog import POLICY_SHA, commit_item
from tests.support.receiver import Receiver
from tests.support.server import eventually, new_token

pytestmark = pytest.mark.e2e


@pytest.fixture
def app_overrides() -> dict[str, object]:
    return {"GATE_WEBHOOK_ALLOW_PRIVATE": True}  # the receiver is on 127.0.0.1


class Gunicorn:
    """One gunicorn (one worker) in its own process group, which ``kill`` ends at once."""

    def __init__(self, app, log: Path) -> None:  # type: ignore[no-untyped-def]
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = {
            **os.environ,
            "GATE_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "GATE_SECRET_KEY": secrets.token_hex(16),
            "GATE_AUDIT_KEY_DIR": app.config["GATE_AUDIT_KEY_DIR"],
            "GATE_WEBHOOK_ALLOW_PRIVATE": "1",  # the receiver is on 127.0.0.1
        }
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", "1", "--bind", f"127.0.0.1:{port}",
             "gate.server.app:create_app()"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if requests.get(f"{self.url}/login", timeout=10).ok:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        self.kill()
        pytest.fail("gunicorn did not start: " + log.read_text())

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self.log.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.close()


def delivery(app):  # type: ignore[no-untyped-def]
    from gate.server.extensions import db
    from gate.server.models import WebhookDelivery

    with app.app_context():
        row = db.session.scalar(select(WebhookDelivery))
        db.session.remove()
        return row


def test_a_server_killed_mid_delivery_leaves_it_for_the_next_process(
    app, tmp_path: Path, receiver: Receiver
) -> None:  # type: ignore[no-untyped-def]
    from gate.server.database import command
    from gate.server.services.actor import Actor
    from gate.server.services.notify import add_webhook

    with command(app):
        add_webhook(receiver.url, "json", ["request.held"], actor=Actor.cli())
    token = new_token(app)
    receiver.release.clear()  # the receiver takes the request and does not answer yet
    first = Gunicorn(app, tmp_path / "gunicorn.log")
    try:
        items = [commit_item(1, "train")]
        hold = wire.HoldRequest(
            "repo", "refs/heads/main", "0" * 40, items[-1]["key"], "agent-bot", POLICY_SHA,
            {"train": 1}, items,
        )  # fmt: skip
        answer = requests.post(
            first.url + wire.HOLDS_PATH,
            json=hold.to_json(),
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        assert answer.ok, answer.text
        claimed = eventually(
            lambda: (row := delivery(app)) is not None and row.locked_until is not None and row,
            "the delivery claimed by the first server",
        )
        time.sleep(0.5)  # the POST is on the wire, the receiver holding it
    finally:
        first.kill()
    assert delivery(app).state == "pending"
    receiver.release.set()  # the dead server's request reaches the receiver; no answer goes back

    claim_ends = claimed.locked_until.replace(tzinfo=claimed.locked_until.tzinfo or UTC)
    time.sleep(max(0.0, (claim_ends - datetime.now(UTC)).total_seconds()) + 0.5)
    second = Gunicorn(app, tmp_path / "gunicorn.log")  # its first request resumes the queue
    try:
        eventually(lambda: delivery(app).state == "delivered", "the delivery sent again", 60)
    finally:
        second.kill()
    assert len(receiver.received) == 2, "at least once: the dead server's try, then this one"
    keys = {headers["Idempotency-Key"] for headers, _ in receiver.received}
    assert len(keys) == 1 and keys == {delivery(app).idempotency_key}
