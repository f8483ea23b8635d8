"""The webhook queue on a real database with a real receiver: a delivery whose worker died
mid-send is sent again once its claim expires, on SQLite and PostgreSQL alike; and webhooks to
internal addresses are refused however the address is spelt."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from gate.server.services.actor import Actor
from gate.server.services.notify import TargetRefused, add_webhook, check_target
from tests.support.receiver import Receiver
from tests.support.webhooks import left_in_flight, run_worker


@pytest.fixture
def app_overrides() -> dict[str, object]:
    return {"GATE_WEBHOOK_ALLOW_PRIVATE": True}


@pytest.fixture
def hook() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def test_a_delivery_left_in_flight_by_a_crashed_worker_is_sent_later(app, hook) -> None:  # type: ignore[no-untyped-def]
    from gate.server.extensions import db
    from gate.server.models import WebhookDelivery

    delivery_id = left_in_flight(app, hook.url, datetime.now(UTC) + timedelta(hours=1))
    wait, states = run_worker(app)
    assert states == [("pending", 0)] and not hook.received, "not while the claim holds"
    with app.app_context():  # the claim runs out
        row = db.session.get(WebhookDelivery, delivery_id)
        row.locked_until = datetime.now(UTC) - timedelta(seconds=1)
        key = row.idempotency_key
        db.session.commit()
    wait, states = run_worker(app)
    assert states == [("delivered", 1)] and wait is None
    ((headers, _),) = hook.received
    assert headers["Idempotency-Key"] == key and headers["X-Gate-Delivery"] == str(delivery_id)
    assert run_worker(app)[1] == [("delivered", 1)] and len(hook.received) == 1, "sent once"


@pytest.mark.parametrize("app_overrides", [{}], indirect=False)
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://127.1/hook",
        "http://0x7f000001/hook",
        "http://2130706433/hook",
        "http://0177.0.0.1/hook",
        "http://0.0.0.0/hook",
        "http://localhost:8080/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/hook",
        "http://192.168.0.1/hook",
        "http://172.16.5.5/hook",
        "http://100.64.0.1/hook",
        "http://[fe80::1]/hook",
        "http://[fd00::1]/hook",
        "http://224.0.0.1/hook",
    ],
)
def test_internal_targets_are_refused(app, url: str) -> None:  # type: ignore[no-untyped-def]
    from gate.server.extensions import db
    from gate.server.models import Webhook

    with app.app_context():
        with pytest.raises(TargetRefused, match="internal address"):
            add_webhook(url, "json", [], actor=Actor.cli("test"))
        db.session.rollback()
        assert db.session.scalars(select(Webhook)).all() == []


@pytest.mark.parametrize("app_overrides", [{}], indirect=False)
def test_a_public_address_is_accepted_and_junk_is_a_clear_error(app) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        check_target("https://93.184.215.14/hook")  # a public address: no lookup needed
        with pytest.raises(TargetRefused, match="http:// or https://"):
            check_target("ftp://example.com/")
        with pytest.raises(TargetRefused, match="cannot resolve"):
            check_target("http://no-such-host.invalid/hook")


@pytest.mark.parametrize("app_overrides", [{}], indirect=False)
def test_a_target_that_turned_internal_is_refused_at_send_time(app, hook) -> None:  # type: ignore[no-untyped-def]
    """Added while allowed (or while its name resolved elsewhere), sent when it is not."""
    app.config["GATE_WEBHOOK_ALLOW_PRIVATE"] = True
    left_in_flight(app, hook.url, datetime.now(UTC) - timedelta(seconds=1))
    app.config["GATE_WEBHOOK_ALLOW_PRIVATE"] = False
    _, states = run_worker(app)
    assert states == [("pending", 1)] and not hook.received
    from gate.server.extensions import db
    from gate.server.models import WebhookDelivery

    with app.app_context():
        error = db.session.scalars(select(WebhookDelivery)).one().last_error
    assert error.startswith("refused: ") and "internal address" in error
