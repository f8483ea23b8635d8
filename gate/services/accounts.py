"""Reviewers, admins and hook tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from gate import audit
from gate.extensions import db
from gate.models import HookToken, User
from gate.services import Conflict, ServiceError

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
    actor: str = "system",
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
        actor_auth="cli" if actor == "system" else "session",
        subject={"user": username, "name": user.name, "email": email, "role": role},
    )
    db.session.commit()
    return user


def authenticate(username: str, password: str) -> User | None:
    """The user, if the password is right and the account active; records failures."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
    elif check_password_hash(user.password_hash, password) and user.active:
        return user
    audit.append(
        "login.failed",
        actor=username[:80],
        actor_auth="password",
        subject={
            "user": username[:80],
            "reason": "unknown user" if user is None else "bad password or disabled",
        },
    )
    db.session.commit()
    return None


def check_password(user: User, password: str) -> bool:
    return check_password_hash(user.password_hash, password)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(name: str, *, actor: str = "system") -> tuple[HookToken, str]:
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
        actor_auth="cli" if actor == "system" else "session",
        subject={"token_id": token.id, "name": token.name, "prefix": token.prefix},
    )
    db.session.commit()
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
