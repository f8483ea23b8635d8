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
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, has_request_context
from flask import request as http_request
from flask_sqlalchemy.session import Session
from sqlalchemy import event, select

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
    from gate.server.services.mail import MAIL_EVENTS, enabled, enqueue_mail

    mailed = event_name in MAIL_EVENTS and enabled()
    if not mailed and not _subscribed(event_name):
        return 0
    base = public_url()
    fields = {
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
    if mailed:
        enqueue_mail(event_name, request, {"event": event_name, **fields})
    return enqueue_event(event_name, fields)


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


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(PENDING_FLAG, False):
        from gate.server.services.delivery import kick

        kick(current_app._get_current_object())  # type: ignore[attr-defined]


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(PENDING_FLAG, None)


class TargetRefused(ServiceError):
    """A webhook URL gate will not send to."""


def check_target(url: str) -> None:
    """Refuse a receiver that is, or resolves to, a loopback, link-local, private, unspecified,
    multicast or otherwise non-public address, unless GATE_WEBHOOK_ALLOW_PRIVATE is set.

    The host is resolved as the sender will resolve it (getaddrinfo), so every spelling the
    resolver accepts (127.1, 0x7f000001, 2130706433, ::ffff:127.0.0.1, a name) is judged by
    the addresses it really reaches. Checked when a webhook is added and again before each send.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("the webhook URL must be an http:// or https:// address")
    if current_app.config.get("GATE_WEBHOOK_ALLOW_PRIVATE"):
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except ValueError:
        raise TargetRefused("the webhook URL has an invalid port") from None
    except (OSError, UnicodeError) as exc:
        raise TargetRefused(f"cannot resolve the webhook host {parts.hostname!r}: {exc}") from None
    for *_, address in found:
        ip = ipaddress.ip_address(str(address[0]).split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if not ip.is_global or ip.is_multicast:
            raise TargetRefused(
                f"the webhook host {parts.hostname!r} is {ip}, a loopback, private, link-local "
                "or otherwise internal address; gate only sends to public addresses unless "
                "GATE_WEBHOOK_ALLOW_PRIVATE is set"
            )


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
