"""Reviewers, admins, agent accounts and API tokens (hook tokens, agents' read tokens)."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from gate.server.extensions import db
from gate.server.models import AGENT_ROLE, HookToken, User
from gate.server.services import Conflict, NotFound, ServiceError, audit, scopes, throttle
from gate.server.services.actor import Actor

ROLES = ("reviewer", "admin", "auditor")
MIN_PASSWORD = 10
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
# Compared against when the user does not exist, so a login takes as long either way.
_DUMMY_HASH = generate_password_hash("gate-timing-equaliser")


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def _check_new_account(username: str, email: str) -> None:
    """A username and email any new account (human or agent) may take."""
    if not _USERNAME.match(username):
        raise ServiceError("usernames are letters, digits, '.', '_' or '-', at most 80 characters")
    if not _EMAIL.match(email):
        raise ServiceError(f"not an email address: {email!r}")
    taken = db.session.scalar(
        select(User).where((User.username == username) | (func.lower(User.email) == email.lower()))
    )
    if taken is not None:
        raise Conflict(f"a user with that username or email already exists ({taken.username})")


def add_user(
    username: str,
    name: str,
    email: str,
    password: str,
    role: str = "reviewer",
    *,
    actor: Actor,
) -> User:
    _check_new_account(username, email)
    if role not in ROLES:
        raise ServiceError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise ServiceError(f"passwords need at least {MIN_PASSWORD} characters")
    if not name.strip():
        raise ServiceError("a reviewer needs a full name: sign-offs are made by named humans")
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


def add_agent(
    username: str,
    operator: str,
    *,
    name: str | None = None,
    email: str | None = None,
    actor: Actor,
) -> User:
    """An agent account: the name its git host authenticates it as (the pusher), operated by a
    named human. It has no password, never logs in to the web app and never approves (its role
    is none of the human roles); it holds read tokens for its own requests."""
    human = db.session.scalar(select(User).where(User.username == operator))
    if human is None or human.is_agent or not human.active:
        raise ServiceError(
            f"the operator must be an active human account (there is none named {operator[:80]!r})"
        )
    email = email or f"{username}@agents.invalid"
    _check_new_account(username, email)
    agent = User(
        username=username,
        name=(name or username).strip() or username,
        email=email,
        role=AGENT_ROLE,
        password_hash="!agent accounts have no password",
        operator_id=human.id,
    )
    db.session.add(agent)
    db.session.flush()
    audit.append(
        "user.added",
        actor=actor,
        subject={
            "user": username,
            "name": agent.name,
            "email": email,
            "role": AGENT_ROLE,
            "kind": "agent",
            "operator": human.username,
            "operator_email": human.email,
        },
    )
    return agent


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
    if user is None or user.is_agent:
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
            "reason": "unknown user"
            if user is None
            else "agent account"
            if user.is_agent
            else "bad password or disabled",
        },
    )
    return None


def check_password(user: User, password: str) -> bool:
    return not user.is_agent and check_password_hash(user.password_hash, password)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _new_secret(token: HookToken) -> str:
    secret = "gate_" + secrets.token_urlsafe(32)
    token.token_hash = token_hash(secret)
    token.prefix = secret[:12]
    return secret


def create_hook_token(
    host: str,
    repositories: list[str],
    *,
    all_repositories: bool = False,
    name: str | None = None,
    actor: Actor,
) -> tuple[HookToken, str]:
    """A git host's hook token for the repositories ``repositories`` name (patterns, see
    gate.server.services.scopes), or every repository when ``all_repositories``; the secret
    is returned once and only its hash is stored."""
    problem = scopes.check_host(host)
    if problem:
        raise ServiceError(problem)
    patterns = list(dict.fromkeys(p.strip() for p in repositories if p.strip()))
    if all_repositories and patterns:
        raise ServiceError("give repository patterns or all repositories, not both")
    if not patterns and not all_repositories:
        raise ServiceError(
            "a hook token names the repositories it speaks for (--repo PATTERN, repeatable), "
            "or every repository with --all-repos"
        )
    for pattern in patterns:
        problem = scopes.check_repository_pattern(pattern)
        if problem:
            raise ServiceError(f"repository pattern {pattern[:100]!r}: {problem}")
    label = (name or host).strip()[:120]
    token = HookToken(
        name=label,
        kind=scopes.HOOK,
        host=host.strip(),
        repositories=patterns,
        all_repositories=all_repositories,
    )
    secret = _new_secret(token)
    db.session.add(token)
    db.session.flush()
    _audit_created(token, actor)
    return token, secret


def create_agent_token(
    agent: str, *, name: str | None = None, actor: Actor
) -> tuple[HookToken, str]:
    """An agent account's read token: it reads that agent's requests and nothing else."""
    account = db.session.scalar(select(User).where(User.username == agent))
    if account is None or not account.is_agent:
        raise ServiceError(
            f"there is no agent account {agent[:80]!r} (gate user add NAME --agent --operator HUMAN)"
        )
    if not account.active:
        raise ServiceError(f"the agent account {account.username} is disabled")
    token = HookToken(
        name=(name or f"agent {account.username}").strip()[:120],
        kind=scopes.AGENT_READ,
        repositories=[],
        agent_id=account.id,
    )
    secret = _new_secret(token)
    db.session.add(token)
    db.session.flush()
    _audit_created(token, actor)
    return token, secret


def _scope_fields(token: HookToken) -> dict[str, object]:
    return {
        "token_id": token.id,
        "name": token.name,
        "prefix": token.prefix,
        **scopes.fields(token),
    }


def _audit_created(token: HookToken, actor: Actor) -> None:
    audit.append("token.created", actor=actor, subject=_scope_fields(token))


def token_by_secret(secret: str) -> HookToken | None:
    """The token with this secret, revoked or not (a revoked one's use is refused and noted)."""
    return db.session.scalar(select(HookToken).where(HookToken.token_hash == token_hash(secret)))


def token_for_secret(secret: str) -> HookToken | None:
    token = token_by_secret(secret)
    if token is None or token.revoked_at is not None:
        return None
    return token


TOUCH_EVERY = timedelta(minutes=1)


def touch_token(token: HookToken) -> None:
    """Note when a token was last used, to the minute, and audit its first use of each UTC day.

    Not every use: a hook or a polling ``gate wait`` calls many times an hour, and a record per
    call would grow the log by the call rate and make every caller sharing the token take the
    audit lock in turn. A record per token and day says which tokens are live and from when,
    which is what deciding a revocation needs. Writing last_used_at on every request would
    likewise make every hook sharing the token wait for the row's lock in turn (and on SQLite
    take the write lock for reads)."""
    now = datetime.now(UTC)
    last = token.last_used_at
    if last is not None and last.tzinfo is None:  # SQLite hands back naive UTC
        last = last.replace(tzinfo=UTC)
    if last is None or last.date() != now.date():
        audit.append(
            "token.used",
            actor=Actor.token(token),
            subject={**_scope_fields(token), "day": now.date().isoformat()},
        )
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
    return user if user is not None and user.active and not user.is_agent else None


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
    from gate.server.services.progress import settle

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
    if user.is_agent:
        raise ServiceError("agent accounts have no password: they never log in")
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
        audit.append("token.revoked", actor=actor, subject=_scope_fields(token))
    return token
