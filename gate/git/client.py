"""The hooks' side of the API: send held commits and push reports to the server, read answers.

Only called when a push holds something (or after a push, in the background), so importing
requests (~230 ms) is paid only then. Bodies are built and answers parsed by
gate.wire. Any failure to get a well-formed answer is a GateError: the hook fails closed.

Every call has one wall-clock deadline (``Deadline``), not a timeout per socket read: a server
that trickles a byte at a time cannot keep a push waiting past it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from gate import wire
from gate.errors import GateError
from gate.git.classify import HeldCommit, HeldRefChange, Verdict
from gate.git.commits import display_path
from gate.git.config import HookConfig
from gate.git.policy import Policy
from gate.git.policy.model import APPROVAL_PASSWORD

T = TypeVar("T")


class HoldRefused(GateError):
    """The server would not record the hold: it would have superseded a request while some of
    its content was not sent (wire.HOLD_INCOMPLETE). Not an outage: trying again changes
    nothing until that request is decided."""

    advice = (
        f"gate: The hook sends no file over {wire.MAX_SENT_BLOB // 2**20} MiB, nor past "
        f"{wire.MAX_SENT_PER_COMMIT // 2**20} MiB in one commit, and the server never lets "
        "content it cannot check replace a request: that request and its approvals stand.",
        "gate: Have it decided (approved or denied), then push again; or push commits whose "
        "changed files fit. Nothing was changed.",
    )


class Deadline:
    """One budget of wall-clock seconds for every server call of one hook run, counted from
    the first call (not from the diff work before it)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at: float | None = None

    def remaining(self) -> float:
        if self.at is None:
            self.at = time.monotonic() + self.seconds
        return self.at - time.monotonic()

    def run(self, server: str, call: Callable[[float], T]) -> T:
        """``call(remaining seconds)``, given up on at the deadline whatever the socket does.

        The call runs in a daemon thread: a blocked read cannot be interrupted portably, but
        the hook need not wait for it; the thread ends with the hook's process.
        """
        outcome: dict[str, Any] = {}

        def target() -> None:
            try:
                outcome["value"] = call(max(0.01, self.remaining()))
            except BaseException as exc:  # handed to the caller's thread below
                outcome["error"] = exc

        worker = threading.Thread(target=target, name="gate-server-call", daemon=True)
        worker.start()
        worker.join(max(0.0, self.remaining()))
        if worker.is_alive():
            raise GateError(
                f"the gate server at {server} did not answer within {self.seconds:g} seconds"
            )
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]


def _shown_guards(guards: dict[str, list[str]]) -> dict[str, list[str]]:
    """Paths as reviewers see them: undecodable bytes and control characters escaped."""
    return {name: [display_path(path) for path in paths] for name, paths in guards.items()}


def commit_item(held: HeldCommit, objects: list[tuple[str, bytes]]) -> dict[str, Any]:
    """A held commit as the objects that make it (gate.git.objects): the server reads its
    author, message and diff from them, never from anything else the hook could claim."""
    return wire.commit_item(
        held.commit.id,
        objects,
        [s.to_dict() for s in held.signals],
        _shown_guards(held.guards),
        held.first_pushed_by,
    )


def change_item(change: HeldRefChange) -> dict[str, Any]:
    return wire.ref_update_item(
        change.key,
        change.reason,
        list(change.removed),
        [s.to_dict() for s in change.signals],
        _shown_guards(change.guards),
    )


def hold_payload(
    config: HookConfig,
    policy: Policy,
    pusher: str | None,
    verdict: Verdict,
    items: list[dict[str, Any]],
) -> dict[str, Any]:
    accounts = {pusher} | {item["first_pushed_by"] for item in items if "first_pushed_by" in item}
    owners = {}
    for account in sorted(a for a in accounts if a):
        owner = policy.agents.owner_of(account)
        if owner:
            owners[account] = owner
    return wire.HoldRequest(
        repository=config.repository,
        ref=verdict.update.ref,
        old=verdict.update.old,
        new=verdict.update.new,
        pusher=pusher,
        policy_sha256=policy.sha256,
        approvals={guard.name: guard.approvals for guard in policy.guards},
        items=items,
        owners=owners,
        approval_methods={
            guard.name: guard.approval
            for guard in policy.guards
            if guard.approval != APPROVAL_PASSWORD
        },
    ).to_json()


def post(
    config: HookConfig, path: str, payload: dict[str, Any], deadline: Deadline | None = None
) -> Any:
    """POST a body to the server; the JSON of its 200 answer, or a GateError saying why not."""
    deadline = deadline or Deadline(config.budget)
    try:
        body, headers = wire.encode(payload, wire.BODY_LIMITS.get(path))
    except wire.WireError as exc:
        raise GateError(str(exc)) from None
    headers["Authorization"] = f"Bearer {config.token()}"
    return deadline.run(config.server, lambda seconds: _post(config, path, body, headers, seconds))


def _post(
    config: HookConfig,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
    seconds: float,
    method: str = "POST",
) -> Any:
    import requests

    try:
        response = requests.request(
            method, f"{config.server}{path}", data=body, headers=headers, timeout=seconds
        )
    except requests.RequestException as exc:
        raise GateError(
            f"cannot reach the gate server at {config.server} ({type(exc).__name__})"
        ) from None
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code != 200:
        detail = wire.error_text(answer) or f"HTTP {response.status_code}"
        if wire.error_code(answer) == wire.HOLD_INCOMPLETE:
            raise HoldRefused(f"the gate server refused to hold this push: {detail}")
        if wire.error_code(answer) == wire.DATABASE_UNAVAILABLE:
            raise GateError(f"gate server: database unavailable ({config.server}: {detail})")
        raise GateError(
            f"the gate server at {config.server} answered HTTP {response.status_code}: {detail}"
        )
    if answer is None:
        raise GateError(f"the gate server at {config.server} sent an answer that is not JSON")
    return answer


def token_scope(
    config: HookConfig, repository: str, deadline: Deadline | None = None
) -> dict[str, Any]:
    """What the server says this hook's token may do, and whether it covers ``repository``
    (for checks such as ``gate doctor``: it writes nothing but the token's daily use)."""
    deadline = deadline or Deadline(config.budget)
    headers = {"Authorization": f"Bearer {config.token()}"}
    path = wire.token_path(repository)
    answer = deadline.run(
        config.server, lambda seconds: _post(config, path, None, headers, seconds, "GET")
    )
    return _usable(config, lambda: wire.parse_token_scope(answer))


def fetch_key_registry(config: HookConfig, deadline: Deadline | None = None) -> dict[str, Any]:
    """The server's signing-key registry (gate.git.signing keeps a copy on the git host)."""
    deadline = deadline or Deadline(config.budget)
    headers = {"Authorization": f"Bearer {config.token()}"}
    answer = deadline.run(
        config.server,
        lambda seconds: _post(config, wire.KEYS_PATH, None, headers, seconds, "GET"),
    )
    return _usable(config, lambda: wire.parse_key_registry(answer))


def _usable(config: HookConfig, parse: Callable[[], T]) -> T:
    """The server's answer as ``parse`` reads it, or a GateError saying it cannot be used."""
    try:
        return parse()
    except wire.WireError as exc:
        raise GateError(
            f"the gate server at {config.server} sent an answer gate cannot use ({exc})"
        ) from None


def submit_holds(
    config: HookConfig, payload: dict[str, Any], deadline: Deadline | None = None
) -> dict[str, Any]:
    """POST the held items of one ref update; return the server's per-item states."""
    answer = post(config, wire.HOLDS_PATH, payload, deadline)
    keys = [item["key"] for item in payload["items"]]
    return _usable(config, lambda: wire.parse_hold_answer(answer, keys))


def send_push_report(
    config: HookConfig, report: dict[str, Any], deadline: Deadline | None = None
) -> dict[str, Any]:
    """POST a post-receive report; the server's {recorded, seq}."""
    answer = post(config, wire.PUSHES_PATH, report, deadline)
    return _usable(config, lambda: wire.parse_push_answer(answer))


def check_content(answer: dict[str, Any], sent: dict[str, str]) -> None:
    """Downgrade to pending any approval of a commit whose content hash is not the one of the
    objects this hook read (``sent``: commit id -> gate.git.objects.content_sha256).

    The server binds approvals to the hash it computed over the objects it was sent. A hold
    posted by someone else for the same commit (say, with a blob left out) has another hash,
    and no hash at all means a hold from before the server checked content: neither approval
    is for what this push brings.
    """
    for item in answer["items"]:
        mine = sent.get(item["key"])
        if mine is None or item["state"] != "approved" or item.get("content_sha256") == mine:
            continue
        item["state"] = "pending"
        item["short"] = (
            "the approval was for different content than this push brings "
            f"(approved content SHA-256 {(item.get('content_sha256') or 'none')[:16]}, "
            f"pushed {mine[:16]}); it must be approved again"
        )


def enforce_policy(answer: dict[str, Any], items: list[dict[str, Any]], policy: Policy) -> None:
    """Downgrade to pending any approval that falls short of this hook's own policy.

    A request's requirements are recorded when it is first created, from that hook's policy. If
    the policy has since been tightened, or a request was created by anyone with weaker
    requirements, an "approved" answer is not enough: every guard an item touches must have at
    least as many distinct approvals as this policy asks for.
    """
    needed = {guard.name: guard.approvals for guard in policy.guards}
    requests = {r["id"]: r for r in answer["requests"]}
    guards_of = {item["key"]: item["guards"] for item in items}
    for item in answer["items"]:
        if item["state"] != "approved":
            continue
        given = (requests.get(item["request_id"]) or {}).get("approvals", {})
        for guard in guards_of.get(item["key"], {}):
            have = given[guard]["given"] if guard in given else 0
            if have < needed.get(guard, 1):
                item["state"] = "pending"
                item["short"] = (
                    f"{guard} has {have} of the {needed.get(guard, 1)} approvals this policy requires"
                )
