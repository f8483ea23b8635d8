"""Webhook notifications: an outbox written in the event's own transaction.

``enqueue`` adds one ``WebhookDelivery`` per subscribed webhook to the current transaction, so a
delivery exists exactly when its event does. Sending happens after commit, on a background
thread (gate.server.services.delivery), so a slow or failing receiver never blocks the hook's request
or a reviewer's decision.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, has_request_context
from flask import request as http_request
from sqlalchemy import select

from gate.server.extensions import db
from gate.server.models import ApprovalRequest, Webhook, WebhookDelivery
from gate.server.services import NotFound, ServiceError, audit
from gate.server.services.actor import Actor

EVENTS = (
    "request.held",
    "request.superseded",
    "decision.approve",
    "decision.deny",
    "request.approved",
    "request.denied",
    "repository.heartbeat_overdue",  # a guarded repository's hooks went quiet
    "repository.problem",  # gate doctor reports a problem with a repository's hooks
    "commit.landed_without_signoff",  # an agent commit on a guarded path, found unapproved
)
STYLES = ("json", "slack")
PENDING_FLAG = "gate.webhooks_enqueued"


def public_url() -> str:
    configured = current_app.config.get("GATE_PUBLIC_URL") or ""
    if configured:
        return configured.rstrip("/")
    if has_request_context():
        return http_request.host_url.rstrip("/")
    return ""


def enqueue(event_name: str, request: ApprovalRequest, extra: dict[str, Any] | None = None) -> int:
    """Queue ``event_name`` about ``request`` for every webhook that wants it (caller commits)."""
    if not _subscribed(event_name):
        return 0
    return enqueue_event(event_name, request_fields(request, extra))


def request_fields(request: ApprovalRequest, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """What an event about ``request`` tells its receivers (webhooks and e-mail alike)."""
    base = public_url()
    return {
        "request": {
            "id": request.id,
            "state": request.state,
            "repository": request.repository.name,
            "ref": request.ref,
            "pusher": request.pusher,
            "required": dict(request.required),
            "commits": [item.key for item in request.items if item.kind == "commit"],
            "url": f"{base}/requests/{request.id}" if base else f"/requests/{request.id}",
        },
        **(extra or {}),
    }


def _subscribed(event_name: str) -> list[Webhook]:
    return [hook for hook in _active_webhooks() if not hook.events or event_name in hook.events]


def enqueue_event(event_name: str, fields: dict[str, Any]) -> int:
    """Queue ``{"event": event_name, **fields}`` for every webhook that wants it (caller
    commits); the one outbox for request events and for alerts about repositories."""
    hooks = _subscribed(event_name)
    if not hooks:
        return 0
    body = {"event": event_name, **fields}
    for hook in hooks:
        db.session.add(WebhookDelivery(webhook_id=hook.id, event=event_name, body=body))
    db.session.info[PENDING_FLAG] = True
    return len(hooks)


_WEBHOOKS = "gate.active_webhooks"


def _active_webhooks() -> list[Webhook]:
    """The active webhooks, read once per transaction (a push enqueues up to three events)."""
    session = db.session()
    cached = session.info.get(_WEBHOOKS)
    if cached is not None and cached[0] is session.get_transaction():
        return cached[1]
    hooks = list(session.scalars(select(Webhook).where(Webhook.active.is_(True))))
    session.info[_WEBHOOKS] = (session.get_transaction(), hooks)
    return hooks


class TargetRefused(ServiceError):
    """A webhook URL gate will not send to."""


@dataclass(frozen=True)
class Target:
    """A webhook receiver as resolved once for one send: the sender connects only to these
    addresses, each of them checked, and speaks to ``host`` (Host header, TLS SNI and the
    certificate's name) on them, so a name that answers differently the next time it is
    looked up (DNS rebinding) cannot move the connection."""

    scheme: str
    host: str  # the name (or address) in the URL
    port: int
    addresses: tuple[str, ...]


def check_target(url: str) -> Target:
    """Resolve the receiver's host once and refuse it if any address it resolves to is a
    loopback, link-local, private, unspecified, multicast or otherwise non-public address,
    unless GATE_WEBHOOK_ALLOW_PRIVATE is set or the address lies in a network of
    GATE_WEBHOOK_ALLOWED_NETWORKS. Returns the checked addresses for the sender to connect to.

    Numeric spellings are read as the C resolver reads them (127.1, 0x7f000001, 2130706433,
    ::ffff:127.0.0.1), names through GATE_WEBHOOK_NAMESERVERS when set (dnspython) or else
    the system's resolver, so each is judged by the addresses it really reaches. Checked when
    a webhook is added and again, resolving afresh, before each send.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("the webhook URL must be an http:// or https:// address")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise TargetRefused("the webhook URL has an invalid port") from None
    host = parts.hostname
    addresses = _resolve(host, port)
    config = current_app.config
    allowed = config.get("GATE_WEBHOOK_ALLOWED_NETWORKS") or ()
    if not config.get("GATE_WEBHOOK_ALLOW_PRIVATE"):
        for address in addresses:
            ip = _plain(ipaddress.ip_address(address))
            if (ip.is_global and not ip.is_multicast) or any(ip in net for net in allowed):
                continue
            raise TargetRefused(
                f"the webhook host {host!r} is {ip}, a loopback, private, link-local "
                "or otherwise internal address; gate only sends to public addresses unless "
                "GATE_WEBHOOK_ALLOWED_NETWORKS names its network (or GATE_WEBHOOK_ALLOW_PRIVATE "
                "is set)"
            )
    return Target(parts.scheme, host, port, addresses)


def _plain(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> Any:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _resolve(host: str, port: int) -> tuple[str, ...]:
    """Every address ``host`` names, in the resolver's order, without duplicates."""
    try:  # an address in any spelling the C library accepts: no lookup
        found = socket.getaddrinfo(
            host, port, proto=socket.IPPROTO_TCP, flags=socket.AI_NUMERICHOST
        )
    except (OSError, UnicodeError):
        found = None
    if found is not None:
        addresses = [str(address[0]).split("%", 1)[0] for *_, address in found]
    elif current_app.config.get("GATE_WEBHOOK_NAMESERVERS"):
        addresses = _ask_nameservers(host)
    else:
        try:
            found = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError) as exc:
            raise TargetRefused(f"cannot resolve the webhook host {host!r}: {exc}") from None
        addresses = [str(address[0]).split("%", 1)[0] for *_, address in found]
    if not addresses:
        raise TargetRefused(f"cannot resolve the webhook host {host!r}: no addresses")
    return tuple(dict.fromkeys(addresses))


def _ask_nameservers(host: str) -> list[str]:
    """A and AAAA records of ``host`` from GATE_WEBHOOK_NAMESERVERS, one query each."""
    import dns.exception
    import dns.nameserver
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [
        dns.nameserver.Do53Nameserver(ip, port)
        for ip, port in current_app.config["GATE_WEBHOOK_NAMESERVERS"]
    ]
    resolver.lifetime = float(current_app.config["GATE_WEBHOOK_TIMEOUT_SECONDS"])
    addresses: list[str] = []
    for rdtype in ("A", "AAAA"):
        try:
            answer = resolver.resolve(host, rdtype, search=False)
        except dns.resolver.NXDOMAIN:
            raise TargetRefused(f"cannot resolve the webhook host {host!r}: no such name") from None
        except dns.resolver.NoAnswer:
            continue
        except dns.exception.DNSException as exc:
            raise TargetRefused(f"cannot resolve the webhook host {host!r}: {exc}") from None
        addresses += [record.to_text() for record in answer]
    return addresses


def add_webhook(url: str, style: str, events: list[str], *, actor: Actor) -> tuple[Webhook, str]:
    """A new webhook; returns it and its signing secret (shown once to the admin)."""
    check_target(url)
    if style not in STYLES:
        raise ServiceError("the body format must be 'json' or 'slack'")
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise ServiceError(f"unknown events: {', '.join(unknown)}")
    secret = secrets.token_urlsafe(32)
    hook = Webhook(url=url.strip(), style=style, secret=secret, events=sorted(events), active=True)
    db.session.add(hook)
    db.session.flush()
    audit.append(
        "webhook.added",
        actor=actor,
        subject={"webhook": hook.id, "url": hook.url, "style": style, "events": hook.events},
    )
    return hook, secret


def send_test(webhook_id: int, *, actor: Actor) -> WebhookDelivery:
    """Queue a test delivery to one webhook (active or not), sent like any other."""
    hook = db.session.get(Webhook, webhook_id)
    if hook is None:
        raise NotFound(f"there is no webhook {webhook_id}")
    delivery = WebhookDelivery(
        webhook_id=hook.id,
        event="webhook.test",
        body={"event": "webhook.test", "message": f"a test delivery to webhook {hook.id}"},
    )
    db.session.add(delivery)
    db.session.flush()
    audit.append(
        "webhook.test_sent",
        actor=actor,
        subject={"webhook": hook.id, "url": hook.url, "delivery": delivery.id},
    )
    db.session.info[PENDING_FLAG] = True
    return delivery


def retry_now(delivery_id: int, *, actor: Actor) -> WebhookDelivery:
    """Send a pending or failed delivery again now: one more attempt, whatever its back-off."""
    from datetime import UTC, datetime

    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise NotFound(f"there is no delivery {delivery_id}")
    if delivery.state == "delivered":
        raise ServiceError(f"delivery {delivery_id} has already arrived; nothing to retry")
    before = delivery.state
    delivery.state = "pending"
    delivery.next_attempt_at = datetime.now(UTC)
    audit.append(
        "webhook.delivery_retried",
        actor=actor,
        subject={
            "delivery": delivery.id,
            "webhook": delivery.webhook_id,
            "email_to": delivery.email_to,
            "event": delivery.event,
            "state": before,
            "attempts": delivery.attempts,
        },
    )
    db.session.info[PENDING_FLAG] = True
    return delivery


def set_webhook_active(webhook_id: int, active: bool, *, actor: Actor) -> Webhook:
    hook = db.session.get(Webhook, webhook_id)
    if hook is None:
        raise NotFound(f"there is no webhook {webhook_id}")
    hook.active = active
    audit.append(
        "webhook.enabled" if active else "webhook.disabled",
        actor=actor,
        subject={"webhook": hook.id, "url": hook.url},
    )
    return hook
