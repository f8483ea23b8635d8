"""E-mail to the reviewers who can approve a held request, through the delivery outbox.

Off unless GATE_SMTP_HOST is set. When a request is held, one ``WebhookDelivery`` row with
``email_to`` (and no webhook) is written per reviewer who may approve it, by the decision
service's rule (decisions.approval_refusal), in the hold's own transaction; the delivery worker
(gate.server.services.delivery) sends it after commit, retried with back-off like a webhook:
at least once, and a crash between sending and recording leaves it to be sent again.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

from flask import current_app
from sqlalchemy import select

from gate.server.extensions import db
from gate.server.models import ApprovalRequest, User, WebhookDelivery
from gate.server.services.decisions import DECIDING_ROLES, approval_refusal
from gate.server.services.notify import PENDING_FLAG, request_fields
from gate.server.services.progress import eligibility_rules

MAIL_EVENTS = ("request.held",)


def enabled() -> bool:
    return bool(current_app.config.get("GATE_SMTP_HOST"))


def reviewers_to_tell(request: ApprovalRequest) -> list[User]:
    """The active reviewers and admins who may approve ``request`` now."""
    rules = eligibility_rules()
    users = db.session.scalars(
        select(User)
        .where(User.active.is_(True), User.role.in_(DECIDING_ROLES))
        .order_by(User.username)
    )
    return [user for user in users if approval_refusal(request, user, rules) is None]


def enqueue_mail(event_name: str, request: ApprovalRequest) -> int:
    """Queue the e-mails for ``event_name`` about ``request`` (caller commits)."""
    if event_name not in MAIL_EVENTS or not enabled():
        return 0
    body = {"event": event_name, **request_fields(request)}
    users = reviewers_to_tell(request)
    for user in users:
        db.session.add(
            WebhookDelivery(webhook_id=None, email_to=user.email, event=event_name, body=body)
        )
    if users:
        db.session.info[PENDING_FLAG] = True
    return len(users)


def message_for(delivery: WebhookDelivery, sender: str) -> EmailMessage:
    req = delivery.body.get("request", {})
    guards = ", ".join(f"{g} ({n})" for g, n in sorted(req.get("required", {}).items()))
    commits = req.get("commits", [])
    message = EmailMessage()
    message["From"] = sender
    message["To"] = delivery.email_to or ""
    message["Subject"] = (
        f"gate: request #{req.get('id')} waits for your sign-off: {req.get('repository')} "
        f"{req.get('ref')}"
    )
    message["Message-ID"] = f"<{delivery.idempotency_key}@gate>"  # the same on every attempt
    message.set_content(
        f"Request #{req.get('id')} holds {len(commits)} commit(s) pushed to {req.get('ref')} "
        f"in {req.get('repository')} by {req.get('pusher') or 'an unknown pusher'}, "
        f"for guards {guards}.\n\nYou may approve it. Review it at:\n{req.get('url')}\n\n"
        "You get this e-mail because you are a gate reviewer who may approve these guards.\n"
    )
    return message


def send(delivery: WebhookDelivery, config: Any) -> None:
    """Send one e-mail delivery over SMTP; raises OSError or smtplib.SMTPException."""
    timeout = float(config["GATE_WEBHOOK_TIMEOUT_SECONDS"])
    host = config["GATE_SMTP_HOST"]
    port = int(config.get("GATE_SMTP_PORT") or 25)
    sender = config.get("GATE_SMTP_FROM") or "gate@localhost"
    with smtplib.SMTP(host, port, timeout=timeout) as smtp:
        if config.get("GATE_SMTP_STARTTLS"):
            smtp.starttls(context=ssl.create_default_context())
        if config.get("GATE_SMTP_USER"):
            smtp.login(config["GATE_SMTP_USER"], config.get("GATE_SMTP_PASSWORD") or "")
        smtp.send_message(message_for(delivery, sender))
