"""The webhook queue driven as its worker drives it, on the test's app and database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from gate.server.services.actor import Actor
from gate.server.services.notify import add_webhook


def left_in_flight(app, url: str, claim_ends: datetime) -> int:  # type: ignore[no-untyped-def]
    """A delivery as a worker that crashed mid-send leaves it: pending, claimed until
    ``claim_ends``, never finished."""
    from gate.server.extensions import db
    from gate.server.models import WebhookDelivery

    with app.app_context():
        webhook, _ = add_webhook(url, "json", [], actor=Actor.cli("test"))
        delivery = WebhookDelivery(
            webhook_id=webhook.id,
            event="request.held",
            body={"event": "request.held", "request": {"id": 1}},
            locked_until=claim_ends,
        )
        db.session.add(delivery)
        db.session.commit()
        return delivery.id


def run_worker(app) -> tuple[float | None, list[tuple[str, int]]]:  # type: ignore[no-untyped-def]
    """One pass of the delivery worker, as its thread runs it; then the deliveries' states."""
    from gate.server.extensions import db
    from gate.server.models import WebhookDelivery
    from gate.server.services.delivery import deliver_due

    with app.app_context():
        wait = deliver_due(app)
        db.session.remove()
        rows = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
        return wait, [(d.state, d.attempts) for d in rows]
