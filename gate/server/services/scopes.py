"""What a token may do: the one rule every API route asks (``authorize``) before it acts.

Two kinds of token, and nothing else reaches the API (a web session is not a token):

- ``hook``: held by one git host's hooks (``host``). It may record holds (POST /holds) and
  push reports (POST /pushes) for the repositories its patterns name, or for every repository
  when made with ``--all-repos`` (or before scopes existed: ``unscoped``). It cannot read
  requests: the hook never does (its hold answer carries what it prints).
- ``hook`` tokens may also read the signing-key registry (GET /keys): public keys and which
  account each signs for, which the hooks verify commit signatures against.
- Either kind may read its own scope (GET /token), and nothing about any other token.
- ``agent-read``: an agent account's. It may read (GET /requests/ID) exactly the requests whose
  recorded pusher is that account's username, as a git host's hook token reported it; nothing
  else, not even whether another request exists (those answer 404, like a missing one).
  Commit text (author, trailers) never counts: an agent writes it and could name another agent.

Repository patterns are matched like protected refs (gate.git.refs.ref_matches): ``*`` within
one ``/``-separated component, ``**`` across components, everything else literal.

A refusal is an audit record (``token.refused``), at most one per token per
``GATE_TOKEN_REFUSAL_AUDIT_SECONDS`` (default 600): the next record counts the refusals it did
not record, so a token that floods the API adds a few records an hour, not one per call.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import current_app

from gate import wire
from gate.git.refs import ref_matches
from gate.server.extensions import db
from gate.server.models import ApprovalRequest, HookToken
from gate.server.services import Forbidden, NotFound, audit
from gate.server.services.actor import Actor

HOOK, AGENT_READ = "hook", "agent-read"
KINDS = (HOOK, AGENT_READ)
HOLD, REPORT, READ, SELF, KEYS = "hold", "report", "read", "self", "keys"
# Which kinds of token may take each action at all; the target is checked after.
MAY = {HOLD: (HOOK,), REPORT: (HOOK,), READ: (AGENT_READ,), SELF: KINDS, KEYS: (HOOK,)}
ACTION_TEXT = {
    HOLD: "hold pushes",
    REPORT: "report pushes",
    READ: "read requests",
    SELF: "read its own scope",
    KEYS: "read the signing-key registry",
}
PATTERN_LEN = 500  # a repository name's length (repositories.name)
HOST_LEN = 200


class OutOfScope(Forbidden):
    """The token is genuine but may not do this: HTTP 403, ``out_of_scope``."""

    code = wire.OUT_OF_SCOPE


class NotVisible(NotFound):
    """A request the token may not read: answered as if it did not exist (HTTP 404)."""

    code = "not_found"


def check_repository_pattern(pattern: str) -> str | None:
    """Why ``pattern`` cannot name repositories for a token, or None when it can."""
    if not pattern or len(pattern) > PATTERN_LEN:
        return f"a repository pattern is 1 to {PATTERN_LEN} characters"
    if any(not ch.isprintable() for ch in pattern):
        return "a repository pattern cannot hold control characters"
    parts = pattern.split("/")
    if any(not part for part in parts):
        return "a repository pattern has no empty component ('//', or a leading or trailing '/')"
    if any("**" in part and part != "**" for part in parts):
        return "'**' must be a whole component, as in 'ml/**'"
    if parts.count("**") > 1:
        return "a repository pattern may use '**' once"
    if parts == ["**"]:
        return "'**' names every repository: make the token with --all-repos instead"
    return None


def check_host(host: str) -> str | None:
    if not host.strip() or len(host) > HOST_LEN or any(not ch.isprintable() for ch in host):
        return f"a git host name is 1 to {HOST_LEN} printable characters"
    return None


def covers(token: HookToken, repository: str) -> bool:
    """Whether a hook token speaks for ``repository``."""
    if token.all_repositories or token.unscoped:
        return True
    return any(ref_matches(pattern, repository) for pattern in token.repositories or [])


def describe(token: HookToken) -> str:
    """The token's scope in one line, as the CLI and the admin page show it."""
    if token.kind == AGENT_READ:
        agent = token.agent.username if token.agent is not None else "?"
        return f"agent read token: reads the requests pushed by {agent}"
    if token.unscoped:
        where = "every repository (UNSCOPED: made before token scopes; replace it)"
    elif token.all_repositories:
        where = "every repository (--all-repos)"
    else:
        where = "repositories " + ", ".join(token.repositories or [])
    return f"hook token for git host {token.host}: {where}"


def fields(token: HookToken) -> dict[str, object]:
    """The token's scope as its audit records and GET /token give it."""
    return {
        "kind": token.kind,
        "host": token.host,
        "repositories": list(token.repositories or []),
        "all_repositories": bool(token.all_repositories),
        "unscoped": bool(token.unscoped),
        "agent": token.agent.username if token.agent is not None else None,
    }


def scope_of(token: HookToken, repository: str | None) -> dict[str, object]:
    """GET /api/v1/token: the token's own scope (all it reveals is what its holder was given),
    and whether a hook token speaks for ``repository``."""
    covered = covers(token, repository) if repository and token.kind == HOOK else None
    return wire.token_scope(**fields(token), covers=covered)  # type: ignore[arg-type]


def authorize(
    token: HookToken,
    action: str,
    *,
    repository: str | None = None,
    request: ApprovalRequest | None = None,
) -> None:
    """Raise OutOfScope unless ``token``'s kind may take ``action``; with a target, also unless
    it may take it on ``repository`` (holds, reports) or ``request`` (reads: NotVisible)."""
    if token.kind not in MAY[action]:
        hint = (
            "; agents read their requests with their own token "
            "(gate token create --agent NAME --read)"
            if action == READ
            else ""
        )
        raise OutOfScope(f"{_kind_text(token)} cannot {ACTION_TEXT[action]}{hint}")
    if repository is not None and not covers(token, repository):
        raise OutOfScope(
            f"this hook token (git host {token.host}) does not speak for repository "
            f"{repository[:200]!r}; an admin can make one that does "
            "(gate token create --host HOST --repo PATTERN)"
        )
    if request is not None:
        agent = token.agent
        if agent is None or not agent.active:
            raise OutOfScope("this token's agent account is disabled")
        if request.pusher != agent.username:
            raise NotVisible(f"there is no request {request.id} pushed by {agent.username}")


def _kind_text(token: HookToken) -> str:
    return "a hook token" if token.kind == HOOK else "an agent's read token"


def _window() -> timedelta:
    return timedelta(seconds=int(current_app.config.get("GATE_TOKEN_REFUSAL_AUDIT_SECONDS", 600)))


def note_refusal(token_id: int, action: str, target: str, reason: str) -> None:
    """Audit one refusal of a genuine (possibly revoked) token, throttled per token: the
    first in each window is recorded with the count of those not recorded since the last.
    The caller commits (in a transaction of its own: the refused one was rolled back)."""
    token = db.session.get(HookToken, token_id, with_for_update=True)
    if token is None:
        return
    now = datetime.now(UTC)
    last = token.refusal_noted_at
    if last is not None and last.tzinfo is None:  # SQLite hands back naive UTC
        last = last.replace(tzinfo=UTC)
    if last is not None and now - _window() < last <= now:
        token.refusals_unnoted = (token.refusals_unnoted or 0) + 1
        return
    audit.append(
        "token.refused",
        actor=Actor.token(token),
        subject={
            "token_id": token.id,
            **fields(token),
            "action": action,
            "target": target[:500],
            "reason": reason[:500],
            "unrecorded_before": token.refusals_unnoted or 0,
        },
    )
    token.refusal_noted_at = now
    token.refusals_unnoted = 0
