"""The hooks' side of the API: send held commits and push reports to the server, read answers.

Only called when a push holds something (or after a push, in the background), so importing
requests (~230 ms) and pygit2 is paid only then. Bodies are built and answers parsed by
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
from gate.git.commits import Person, display_path
from gate.git.config import HookConfig
from gate.git.policy import Policy

T = TypeVar("T")


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


def _person(who: Person) -> dict[str, Any]:
    return wire.person(who.name, who.email, who.time, who.offset)


def _shown_guards(guards: dict[str, list[str]]) -> dict[str, list[str]]:
    """Paths as reviewers see them: undecodable bytes and control characters escaped."""
    return {name: [display_path(path) for path in paths] for name, paths in guards.items()}


def commit_item(held: HeldCommit, diffs: list[dict[str, Any]], diff_hash: str) -> dict[str, Any]:
    commit = held.commit
    return wire.commit_item(
        {
            "id": commit.id,
            "parents": list(commit.parents),
            "author": _person(commit.author),
            "committer": _person(commit.committer),
            "message": commit.message,
            "trailers": [list(t) for t in commit.trailers],
        },
        [s.to_dict() for s in held.signals],
        _shown_guards(held.guards),
        diffs,
        diff_hash,
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
    owner = policy.agents.owner_of(pusher)
    return wire.HoldRequest(
        repository=config.repository,
        ref=verdict.update.ref,
        old=verdict.update.old,
        new=verdict.update.new,
        pusher=pusher,
        policy_sha256=policy.sha256,
        approvals={guard.name: guard.approvals for guard in policy.guards},
        items=items,
        owners={pusher: owner} if pusher and owner else {},
    ).to_json()


def post(
    config: HookConfig, path: str, payload: dict[str, Any], deadline: Deadline | None = None
) -> Any:
    """POST a body to the server; the JSON of its 200 answer, or a GateError saying why not."""
    deadline = deadline or Deadline(config.budget)
    body, headers = wire.encode(payload)
    headers["Authorization"] = f"Bearer {config.token()}"
    return deadline.run(config.server, lambda seconds: _post(config, path, body, headers, seconds))


def _post(
    config: HookConfig, path: str, body: bytes, headers: dict[str, str], seconds: float
) -> Any:
    import requests

    try:
        response = requests.post(
            f"{config.server}{path}", data=body, headers=headers, timeout=seconds
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
        raise GateError(
            f"the gate server at {config.server} answered HTTP {response.status_code}: {detail}"
        )
    if answer is None:
        raise GateError(f"the gate server at {config.server} sent an answer that is not JSON")
    return answer


def submit_holds(
    config: HookConfig, payload: dict[str, Any], deadline: Deadline | None = None
) -> dict[str, Any]:
    """POST the held items of one ref update; return the server's per-item states."""
    answer = post(config, wire.HOLDS_PATH, payload, deadline)
    try:
        return wire.parse_hold_answer(answer, [item["key"] for item in payload["items"]])
    except wire.WireError as exc:
        raise GateError(
            f"the gate server at {config.server} sent an answer gate cannot use ({exc})"
        ) from None


def send_push_report(
    config: HookConfig, report: dict[str, Any], deadline: Deadline | None = None
) -> dict[str, Any]:
    """POST a post-receive report; the server's {recorded, seq}."""
    answer = post(config, wire.PUSHES_PATH, report, deadline)
    try:
        return wire.parse_push_answer(answer)
    except wire.WireError as exc:
        raise GateError(
            f"the gate server at {config.server} sent an answer gate cannot use ({exc})"
        ) from None


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
