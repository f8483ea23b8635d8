"""Sending webhook deliveries: HMAC-signed POSTs from a background thread, retried with back-off.

One worker thread per process runs while deliveries are pending and exits when none are left;
``kick`` (called after a commit that queued deliveries) starts or wakes it. Several processes
(gunicorn workers) may run workers at once: each delivery is claimed with a conditional UPDATE
of ``locked_until`` before it is sent, so it is sent by one of them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import smtplib
import threading
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import certifi
from flask import Flask, current_app
from flask_sqlalchemy.session import Session
from sqlalchemy import CursorResult, event, func, or_, select, update

from gate.server.extensions import db
from gate.server.models import Webhook, WebhookDelivery
from gate.server.services import mail
from gate.server.services.notify import PENDING_FLAG, Target, TargetRefused, check_target

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Gate-Signature-256"
# Delivery is at least once (a worker that dies mid-send leaves its claim to expire, and the
# delivery is sent again): this key is the same on every attempt of one delivery.
IDEMPOTENCY_HEADER = "Idempotency-Key"
_lock = threading.Lock()
_EXTENSION = "gate.webhook_worker"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def slack_escape(text: object) -> str:
    """Slack's control characters as entities, so a branch named ``release/<!channel>`` is
    shown, not obeyed (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_body(style: str, body: dict[str, Any]) -> bytes:
    if style == "slack" and "request" not in body:  # an alert about a repository
        payload: dict[str, Any] = {"text": f"gate: {slack_escape(body['message'])}"}
    elif style == "slack":
        req = body["request"]
        reviewer = slack_escape(body.get("reviewer", "a reviewer"))
        verb = {
            "request.held": "is waiting for sign-off",
            "request.superseded": "was superseded by a newer push",
            "decision.approve": f"was approved by {reviewer}",
            "decision.deny": f"was denied by {reviewer}",
            "request.approved": "is fully approved",
            "request.denied": "is denied",
        }.get(body["event"], slack_escape(body["event"]))
        guards = ", ".join(
            f"{slack_escape(g)} ({int(n)})" for g, n in sorted(req["required"].items())
        )
        text = (
            f"gate: request #{int(req['id'])} {verb}: {slack_escape(req['repository'])} "
            f"{slack_escape(req['ref'])}, {len(req['commits'])} commit(s), guards {guards}. "
            f"<{slack_escape(req['url']).replace('|', '%7C')}|Review it>"
        )
        payload = {"text": text}
    else:
        payload = body
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")


class _Worker(threading.Thread):
    def __init__(self, app: Flask) -> None:
        super().__init__(name="gate-webhooks", daemon=True)
        self.app = app
        self.wake = threading.Event()
        self.finished = False

    def run(self) -> None:
        while True:
            self.wake.clear()
            try:
                with self.app.app_context():
                    wait = deliver_due(self.app)
                    db.session.remove()
            except Exception:  # never let a delivery problem kill silently without a trace
                log.exception("gate: webhook delivery loop failed; will retry on the next event")
                wait = None
            if wait is None:
                with _lock:
                    if not self.wake.is_set():
                        self.finished = True
                        return
                continue
            self.wake.wait(timeout=max(wait, 0.01))


def kick(app: Flask) -> None:
    """Start (or wake) this process's delivery worker."""
    with _lock:
        worker = app.extensions.get(_EXTENSION)
        if worker is None or worker.finished:
            worker = _Worker(app)
            app.extensions[_EXTENSION] = worker
            worker.start()
        else:
            worker.wake.set()


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    """A transaction that queued deliveries (notify, mail) wakes the sender once it commits."""
    if session.info.pop(PENDING_FLAG, False):
        kick(current_app._get_current_object())  # type: ignore[attr-defined]


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(PENDING_FLAG, None)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def deliver_due(app: Flask) -> float | None:
    """Send every due delivery; return seconds until the next retry, or None if none pending."""
    config = app.config
    while True:
        now = datetime.now(UTC)
        due = db.session.scalars(
            select(WebhookDelivery)
            .where(
                WebhookDelivery.state == "pending",
                WebhookDelivery.next_attempt_at <= now,
                or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now),
            )
            .order_by(WebhookDelivery.id)
            .limit(20)
        ).all()
        if not due:
            break
        for delivery in due:
            _attempt(delivery, config)
    upcoming = db.session.scalar(
        select(func.min(WebhookDelivery.next_attempt_at)).where(WebhookDelivery.state == "pending")
    )
    if upcoming is None:
        return None
    return (_aware(upcoming) - datetime.now(UTC)).total_seconds()


def _attempt(delivery: WebhookDelivery, config: Any) -> None:
    now = datetime.now(UTC)
    timeout = float(config["GATE_WEBHOOK_TIMEOUT_SECONDS"])
    result = db.session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery.id,
            WebhookDelivery.state == "pending",
            or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now),
        )
        .values(locked_until=now + timedelta(seconds=timeout * 2 + 5))
        # Compared in SQL only: SQLite hands back naive datetimes, which Python cannot compare
        # with an aware one, so evaluating this in the session failed for a claim left behind.
        .execution_options(synchronize_session=False)
    )
    # an UPDATE's result is a CursorResult; execute()'s hint says only Result
    claimed = cast(CursorResult[Any], result).rowcount
    db.session.commit()
    if claimed != 1:
        return
    hook = delivery.webhook
    status: int | None = None
    error: str | None = None
    if hook is None:
        error = _send_mail(delivery, config)
    else:
        status, error = _post(delivery, hook, timeout, config)
    _record(delivery, config, status, error)


def _send_mail(delivery: WebhookDelivery, config: Any) -> str | None:
    if not config.get("GATE_SMTP_HOST") or not delivery.email_to:
        return "e-mail is not configured (GATE_SMTP_HOST)"
    try:
        mail.send(delivery, config)
    except (OSError, smtplib.SMTPException) as exc:
        return f"{type(exc).__name__}: {str(exc)[:300]}"
    return None


def _post(
    delivery: WebhookDelivery, hook: Webhook, timeout: float, config: Any
) -> tuple[int | None, str | None]:
    body = render_body(hook.style, delivery.body)
    status: int | None = None
    error: str | None = None
    try:
        # Resolved and checked again (a name can change what it points to after it was
        # added), once: the connection goes to an address this check saw.
        target = check_target(hook.url)
        status = send(
            target,
            hook.url,
            body,
            {
                "Content-Type": "application/json",
                "User-Agent": "gate-webhooks/1",
                "X-Gate-Event": delivery.event,
                "X-Gate-Delivery": str(delivery.id),
                IDEMPOTENCY_HEADER: delivery.idempotency_key,
                SIGNATURE_HEADER: sign(hook.secret, body),
            },
            timeout,
            config.get("GATE_WEBHOOK_CA_BUNDLE"),
        )
        if not 200 <= status < 300:
            error = f"HTTP {status}"  # never the body: it is the receiver's, shown to admins
    except TargetRefused as exc:
        error = f"refused: {exc}"
    except SendFailed as exc:
        error = str(exc)
    return status, error


def _record(delivery: WebhookDelivery, config: Any, status: int | None, error: str | None) -> None:
    delivery.attempts += 1
    delivery.last_status = status
    delivery.locked_until = None
    finished = datetime.now(UTC)
    if error is None:
        delivery.state = "delivered"
        delivery.delivered_at = finished
        delivery.last_error = None
    else:
        delivery.last_error = error
        if delivery.attempts >= int(config["GATE_WEBHOOK_MAX_ATTEMPTS"]):
            delivery.state = "failed"
        else:
            backoff = float(config["GATE_WEBHOOK_BACKOFF_SECONDS"]) * 2 ** (delivery.attempts - 1)
            delivery.next_attempt_at = finished + timedelta(seconds=backoff)
    db.session.commit()


class SendFailed(Exception):
    """No HTTP answer from any of the receiver's addresses (the message says why)."""


def send(
    target: Target,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    ca_bundle: str | None = None,
) -> int:
    """POST ``body`` to ``url`` over a connection to one of ``target``'s checked addresses
    (tried in order until one connects), never to whatever the name resolves to now; the
    Host header, TLS SNI and certificate check use the URL's host. No redirects are followed,
    no proxy is used, and the response body is not read. Returns the HTTP status."""
    import urllib3
    from urllib3.exceptions import (
        ConnectTimeoutError,
        HTTPError,
        NewConnectionError,
        ProtocolError,
        ReadTimeoutError,
    )
    from urllib3.exceptions import SSLError as TLSError

    parts = urlsplit(url.strip())
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    sent = {**headers, "Host": parts.netloc.rpartition("@")[2]}
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        sent.update(urllib3.util.make_headers(basic_auth=credentials))
    limit = urllib3.Timeout(connect=timeout, read=timeout)
    problem = "no address to connect to"
    for address in target.addresses:
        pool: urllib3.HTTPConnectionPool
        if target.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                address,
                target.port,
                timeout=limit,
                retries=False,
                cert_reqs="CERT_REQUIRED",
                ca_certs=ca_bundle or os.environ.get("REQUESTS_CA_BUNDLE") or certifi.where(),
                server_hostname=target.host,
                assert_hostname=target.host,
            )
        else:
            pool = urllib3.HTTPConnectionPool(address, target.port, timeout=limit, retries=False)
        where = f"{target.host} at {address} port {target.port}"
        try:
            response = pool.urlopen(
                "POST",
                path,
                body=body,
                headers=sent,
                redirect=False,
                retries=False,
                preload_content=False,
                assert_same_host=False,
            )
            return int(response.status)
        except (NewConnectionError, ConnectTimeoutError) as exc:
            # NewConnectionError is a ConnectTimeoutError too
            kind = "ConnectionError" if isinstance(exc, NewConnectionError) else "Timeout"
            problem = f"{kind}: cannot connect to {where}: {_reason(exc)}"
            continue  # the next checked address, if any
        except TLSError as exc:
            raise SendFailed(f"SSLError: {where}: {_reason(exc)}") from None
        except ReadTimeoutError:
            raise SendFailed(f"Timeout: {where} did not answer within {timeout:g} s") from None
        except (ProtocolError, HTTPError, OSError) as exc:
            raise SendFailed(f"ConnectionError: {where}: {_reason(exc)}") from None
        finally:
            pool.close()
    raise SendFailed(problem)


def _reason(exc: BaseException) -> str:
    return str(exc)[:300]


def init_app(app: Flask) -> None:
    """On a process's first request, resume deliveries left pending (by a restart, say)."""
    state = {"checked": False}

    @app.before_request
    def _resume_pending_deliveries() -> None:
        if state["checked"]:
            return
        state["checked"] = True
        pending = db.session.scalar(
            select(WebhookDelivery.id).where(WebhookDelivery.state == "pending").limit(1)
        )
        if pending is not None:
            kick(app)
