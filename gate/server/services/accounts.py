"""Reviewers, admins and hook tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from gate.server.extensions import db
from gate.server.models import HookToken, User
from gate.server.services import Conflict, NotFound, ServiceError, audit, throttle
from gate.server.services.actor import Actor

ROLES = ("reviewer", "admin", "auditor")
MIN_PASSWORD = 10
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
# Compared against when the user does not exist, so a login takes as long either way.
_DUMMY_HASH = generate_password_hash("gate-timing-equaliser")


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def add_user(
    username: str,
    name: str,
    email: str,
    password: str,
    role: str = "reviewer",
    *,
    actor: Actor,
) -> User:
    if not _USERNAME.match(username):
        raise ServiceError("usernames are letters, digits, '.', '_' or '-', at most 80 characters")
    if not _EMAIL.match(email):
        raise ServiceError(f"not an email address: {email!r}")
    if role not in ROLES:
        raise ServiceError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise ServiceError(f"passwords need at least {MIN_PASSWORD} characters")
    if not name.strip():
        raise ServiceError("a reviewer needs a full name: sign-offs are made by named humans")
    taken = db.session.scalar(
        select(User).where((User.username == username) | (func.lower(User.email) == email.lower()))
    )
    if taken is not None:
        raise Conflict(f"a user with that username or email already exists ({taken.username})")
    user = User(
        username=username,
        name=name.strip(),
        email=email,
        role=role,
        password_hash=hash_password(password),
    )
    db.session.add(user)
    db.session.flush()
    audit.append(
        "user.added",
        actor=actor,
        subject={"user": username, "name": user.name, "email": email, "role": role},
    )
    return user


class Throttled(ServiceError):
    status = 429


def authenticate(username: str, password: str, address: str | None = None) -> User | None:
    """The user, if the password is right and the account active; records failures.

    Raises Throttled, without checking the password, after too many recent failures for the
    user name or from the address (see gate.server.services.throttle). A failure's record
    and count are part of the caller's transaction, which must commit them even though the
    login failed.
    """
    if throttle.is_throttled(username, address):
        raise Throttled(
            "Too many failed logins for this account or from this address. "
            "Wait a few minutes, then try again."
        )
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
    elif check_password_hash(user.password_hash, password) and user.active:
        throttle.clear_user(username)
        return user
    throttle.record_failure(username, address)
    audit.append(
        "login.failed",
        actor=Actor(username[:80], "password"),
        subject={
            "user": username[:80],
            "reason": "unknown user" if user is None else "bad password or disabled",
        },
    )
    return None


def check_password(user: User, password: str) -> bool:
    return check_password_hash(user.password_hash, password)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(name: str, *, actor: Actor) -> tuple[HookToken, str]:
    """A new hook token; the secret is returned once and only its hash is stored."""
    if not name.strip():
        raise ServiceError("a token needs a name (which git server or repository uses it)")
    secret = "gate_" + secrets.token_urlsafe(32)
    token = HookToken(name=name.strip(), token_hash=token_hash(secret), prefix=secret[:12])
    db.session.add(token)
    db.session.flush()
    audit.append(
        "token.created",
        actor=actor,
        subject={"token_id": token.id, "name": token.name, "prefix": token.prefix},
    )
    return token, secret


def token_for_secret(secret: str) -> HookToken | None:
    token = db.session.scalar(select(HookToken).where(HookToken.token_hash == token_hash(secret)))
    if token is None or token.revoked_at is not None:
        return None
    return token


TOUCH_EVERY = timedelta(minutes=1)


def touch_token(token: HookToken) -> None:
    """Note when a token was last used, to the minute. Writing it on every request would make
    every hook sharing the token wait for the row's lock in turn (and on SQLite take the write
    lock for reads)."""
    now = datetime.now(UTC)
    last = token.last_used_at
    if last is not None and last.tzinfo is None:  # SQLite hands back naive UTC
        last = last.replace(tzinfo=UTC)
    if last is None or not (now - TOUCH_EVERY < last <= now):
        token.last_used_at = now


def user_for_sso(username: str) -> User | None:
    """The active user a trusted proxy vouched for (by username or email), or None."""
    name = username.strip()
    if not name:
        return None
    user = db.session.scalar(
        select(User).where((User.username == name) | (func.lower(User.email) == name.lower()))
    )
    return user if user is not None and user.active else None


def user_named(username: str) -> User:
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"there is no user {username!r} (gate user list shows them)")
    return user


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(f"there is no user {user_id}")
    return user


def set_active(user: User, active: bool, *, actor: Actor) -> User:
    """Enable or disable an account; a disabled reviewer's approvals stop counting at once."""
    from gate.server.models import ApprovalRequest, Decision
    from gate.server.services.decisions import settle

    if user.active == active:
        return user
    if not active and user.username == actor.name:
        raise ServiceError("you cannot disable your own account")
    user.active = active
    audit.append(
        "user.enabled" if active else "user.disabled",
        actor=actor,
        subject={"user": user.username, "email": user.email},
    )
    db.session.flush()
    decided = select(Decision.request_id).where(Decision.reviewer_id == user.id)
    pending = db.session.scalars(
        select(ApprovalRequest).where(
            ApprovalRequest.state == "pending", ApprovalRequest.id.in_(decided)
        )
    ).all()
    for request in pending:
        db.session.refresh(request)
        settle(request)
    return user


def reset_password(user: User, password: str, *, actor: Actor) -> User:
    if len(password) < MIN_PASSWORD:
        raise ServiceError(f"passwords need at least {MIN_PASSWORD} characters")
    user.password_hash = hash_password(password)
    audit.append(
        "user.password_reset",
        actor=actor,
        subject={"user": user.username},
    )
    throttle.clear_user(user.username)
    return user


def list_users() -> list[User]:
    return list(db.session.scalars(select(User).order_by(User.username)))


def list_tokens() -> list[HookToken]:
    return list(db.session.scalars(select(HookToken).order_by(HookToken.id)))


def revoke_token(token_id: int, *, actor: Actor) -> HookToken:
    token = db.session.get(HookToken, token_id)
    if token is None:
        raise NotFound(f"there is no hook token {token_id}")
    if token.revoked_at is None:
        token.revoked_at = datetime.now(UTC)
        audit.append(
            "token.revoked",
            actor=actor,
            subject={"token_id": token.id, "name": token.name, "prefix": token.prefix},
        )
    return token
