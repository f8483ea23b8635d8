"""Rate limiting of password guesses (logins and step-ups), counted in the database.

A database counter rather than Flask-Limiter's default in-memory storage: gate runs under
several gunicorn workers (and possibly several hosts), which share only the database, and an
in-process counter would multiply the allowance by the number of workers. The database is
already required, so this needs no Redis or memcached.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import delete, func, select

from gate.server.extensions import db
from gate.server.models import LoginAttempt


def _window() -> timedelta:
    return timedelta(seconds=int(current_app.config["GATE_LOGIN_WINDOW_SECONDS"]))


def user_key(username: str) -> str:
    return f"user:{username.lower()[:80]}"


def address_key(address: str | None) -> str:
    return f"ip:{address or 'unknown'}"


def is_throttled(username: str, address: str | None) -> bool:
    """Whether too many recent failures for this user name or from this address."""
    since = datetime.now(UTC) - _window()
    limits = {
        user_key(username): int(current_app.config["GATE_LOGIN_MAX_FAILURES"]),
        address_key(address): int(current_app.config["GATE_LOGIN_MAX_FAILURES_PER_ADDRESS"]),
    }
    counts = dict(
        db.session.execute(
            select(LoginAttempt.key, func.count())
            .where(LoginAttempt.key.in_(limits), LoginAttempt.created_at >= since)
            .group_by(LoginAttempt.key)
        ).all()
    )
    return any(counts.get(key, 0) >= limit for key, limit in limits.items())


def record_failure(username: str, address: str | None) -> None:
    """Count one failure (caller commits); also prunes entries older than the window."""
    now = datetime.now(UTC)
    db.session.execute(delete(LoginAttempt).where(LoginAttempt.created_at < now - _window()))
    db.session.add(LoginAttempt(key=user_key(username), created_at=now))
    db.session.add(LoginAttempt(key=address_key(address), created_at=now))


def clear_user(username: str) -> None:
    """After a successful login the user's own counter starts again (caller commits)."""
    db.session.execute(delete(LoginAttempt).where(LoginAttempt.key == user_key(username)))
