"""DNS rebinding: a webhook name resolved through a real DNS server the test runs (dnslib on
127.0.0.1, GATE_WEBHOOK_NAMESERVERS) that answers a public address to one lookup and loopback
to the next. The sender resolves once per delivery, checks every address, and connects only to
one it checked, so the real receiver on 127.0.0.1 is never reached; a target an admin allows
(GATE_WEBHOOK_ALLOWED_NETWORKS) still is, by name, over HTTP and HTTPS (SNI and the certificate
checked against the URL's name, not the address)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from gate.errors import GateError
from gate.server.services.notify import TargetRefused, check_target
from tests.support.dns import ScriptedDNS
from tests.support.receiver import Receiver
from tests.support.tls import make_certificates
from tests.support.webhooks import left_in_flight, run_worker

PUBLIC = "93.184.215.14"  # a global address; nothing here answers on the receiver's port
REBIND = "rebind.example.test"
INTERNAL = "hooks.internal.test"


@pytest.fixture
def dns() -> Iterator[ScriptedDNS]:
    server = ScriptedDNS(
        {
            # the webhook is added (public), its first send resolves public too, every later
            # lookup answers loopback: what a resolver-side attacker serves
            REBIND: [[PUBLIC], [PUBLIC], ["127.0.0.1"]],
            "mixed.example.test": [[PUBLIC, "127.0.0.1"]],
            INTERNAL: [["127.0.0.1"]],
            "other.internal.test": [["127.0.0.1"]],
        }
    )
    yield server
    server.close()


@pytest.fixture
def app_overrides(dns: ScriptedDNS) -> dict[str, object]:
    return {
        "GATE_WEBHOOK_NAMESERVERS": dns.nameserver,
        "GATE_WEBHOOK_TIMEOUT_SECONDS": 1,
        "GATE_WEBHOOK_BACKOFF_SECONDS": 3600,  # one attempt per pass; make_due() for the next
    }


@pytest.fixture
def hook() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def make_due(app) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import update

    from gate.server.extensions import db
    from gate.server.models import WebhookDelivery

    with app.app_context():
        db.session.execute(
            update(WebhookDelivery).values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        db.session.commit()


def errors(app) -> list[str | None]:  # type: ignore[no-untyped-def]
    from gate.server.extensions import db
    from gate.server.models import WebhookDelivery

    with app.app_context():
        return [d.last_error for d in db.session.scalars(select(WebhookDelivery))]


def test_a_name_that_rebinds_to_loopback_never_reaches_it(app, dns, hook) -> None:  # type: ignore[no-untyped-def]
    url = f"http://{REBIND}:{hook.port}/hook"
    left_in_flight(app, url, datetime.now(UTC) - timedelta(seconds=1))  # checked: public
    assert dns.a_queries(REBIND) == 1
    _, states = run_worker(app)  # resolves public once, and connects only there
    assert states == [("pending", 1)] and not hook.received
    assert dns.a_queries(REBIND) == 2, "one lookup per delivery: the one that was checked"
    (first,) = errors(app)
    assert first is not None and f"{REBIND} at {PUBLIC} port {hook.port}" in first
    make_due(app)
    _, states = run_worker(app)  # now the name answers loopback: refused before connecting
    assert states == [("pending", 2)] and not hook.received
    (second,) = errors(app)
    assert second is not None and second.startswith("refused: ") and "127.0.0.1" in second
    assert dns.a_queries(REBIND) == 3


def test_every_address_of_a_name_is_checked(app, dns, hook) -> None:  # type: ignore[no-untyped-def]
    with app.app_context(), pytest.raises(TargetRefused, match=r"is 127\.0\.0\.1"):
        check_target(f"http://mixed.example.test:{hook.port}/hook")


def test_an_unknown_name_is_a_clear_refusal(app, dns) -> None:  # type: ignore[no-untyped-def]
    with app.app_context(), pytest.raises(TargetRefused, match=r"cannot resolve .* no such name"):
        check_target("http://nowhere.example.test/hook")


@pytest.mark.parametrize("allowed", ["", "10.0.0.0/8"])
def test_an_internal_name_is_refused_unless_its_network_is_allowed(app, dns, hook, allowed) -> None:  # type: ignore[no-untyped-def]
    app.config["GATE_WEBHOOK_ALLOWED_NETWORKS"] = allowed
    from gate.server.config import check_config

    check_config(app.config)
    with app.app_context(), pytest.raises(TargetRefused, match="GATE_WEBHOOK_ALLOWED_NETWORKS"):
        check_target(f"http://{INTERNAL}:{hook.port}/hook")


def allow_loopback(app) -> None:  # type: ignore[no-untyped-def]
    from gate.server.config import check_config

    app.config["GATE_WEBHOOK_ALLOWED_NETWORKS"] = "10.0.0.0/8, 127.0.0.1/32"
    check_config(app.config)


def test_an_allowed_internal_target_is_reached_by_name(app, dns, hook) -> None:  # type: ignore[no-untyped-def]
    allow_loopback(app)
    left_in_flight(app, f"http://{INTERNAL}:{hook.port}/hook?x=1", datetime.now(UTC))
    _, states = run_worker(app)
    assert states == [("delivered", 1)]
    ((headers, body),) = hook.received
    assert headers["Host"] == f"{INTERNAL}:{hook.port}" and hook.paths == ["/hook?x=1"]
    assert b'"request.held"' in body and dns.a_queries(INTERNAL) == 2


@pytest.fixture
def tls_hook(tmp_path: Path) -> Iterator[tuple[Receiver, Path]]:
    ca, cert, key = make_certificates(tmp_path / "tls", INTERNAL)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    receiver = Receiver(tls=context)
    yield receiver, ca
    receiver.close()


def test_https_checks_the_certificate_against_the_urls_name(app, dns, tls_hook) -> None:  # type: ignore[no-untyped-def]
    receiver, ca = tls_hook
    allow_loopback(app)
    app.config["GATE_WEBHOOK_CA_BUNDLE"] = str(ca)
    left_in_flight(app, f"https://{INTERNAL}:{receiver.port}/hook", datetime.now(UTC))
    _, states = run_worker(app)
    assert states == [("delivered", 1)] and len(receiver.received) == 1
    assert receiver.server_names == [INTERNAL], "SNI names the host, not the address"
    assert receiver.received[0][0]["Host"] == f"{INTERNAL}:{receiver.port}"


def test_https_refuses_a_certificate_for_another_name(app, dns, tls_hook) -> None:  # type: ignore[no-untyped-def]
    receiver, ca = tls_hook
    allow_loopback(app)
    app.config["GATE_WEBHOOK_CA_BUNDLE"] = str(ca)
    left_in_flight(app, f"https://other.internal.test:{receiver.port}/hook", datetime.now(UTC))
    _, states = run_worker(app)
    assert states == [("pending", 1)] and not receiver.received
    (error,) = errors(app)
    assert error is not None and error.startswith("SSLError: other.internal.test at 127.0.0.1")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("GATE_WEBHOOK_NAMESERVERS", "dns.example.com", "is not ADDRESS or ADDRESS:PORT"),
        ("GATE_WEBHOOK_NAMESERVERS", "127.0.0.1:99999", "is not ADDRESS or ADDRESS:PORT"),
        ("GATE_WEBHOOK_ALLOWED_NETWORKS", "10.0.0.0/33", "is not a network"),
    ],
)
def test_bad_settings_stop_the_server_with_a_clear_error(
    name: str, value: str, message: str
) -> None:
    from gate.server.config import config_from_env, parse_nameservers, parse_networks

    parsed = config_from_env({name: value})[name]
    read = parse_nameservers if name == "GATE_WEBHOOK_NAMESERVERS" else parse_networks
    with pytest.raises(GateError, match=message):
        read(parsed)
    assert parse_nameservers("10.0.0.53, [fd00::53]:5353") == (
        ("10.0.0.53", 53),
        ("fd00::53", 5353),
    )
