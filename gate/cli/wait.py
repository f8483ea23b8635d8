"""gate wait: an agent waits for a human's sign-off on a held push.

Polls ``GET /api/v1/requests/ID`` and returns an exit code an agent loop can act on:
0 approved (push the same commits again), 1 denied or superseded (stop; a superseded request's
successor is named), 2 timed out. Network errors and server errors are reported and polling
continues until the timeout; a refused token or an unknown request cannot get better by waiting
and returns 3.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

APPROVED, DENIED, TIMED_OUT, CANNOT_WAIT = 0, 1, 2, 3


def read_token(token_file: str) -> str:
    from gate.errors import GateError

    try:
        token = Path(token_file).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise GateError(f"gate: cannot read the token file {token_file}: {exc.strerror}") from None
    if not token:
        raise GateError(f"gate: the token file {token_file} is empty")
    return token


def wait_for(
    request_id: int,
    server: str,
    token: str,
    timeout: float | None,
    interval: float = 5.0,
    say: Callable[[str], None] = print,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Poll until the request is decided or ``timeout`` seconds pass (None: no limit)."""
    import requests

    url = f"{server.rstrip('/')}/api/v1/requests/{request_id}"
    deadline = None if timeout is None else clock() + timeout
    last_problem = ""
    last_progress = None
    while True:
        problem = ""
        try:
            response = requests.get(
                url, headers={"Authorization": f"Bearer {token}"}, timeout=min(30.0, interval * 4)
            )
        except requests.RequestException as exc:
            problem = f"cannot reach the gate server at {server} ({type(exc).__name__}); retrying"
        else:
            if response.status_code in (401, 403):
                say(f"gate: the server refused the token ({_message(response)})")
                return CANNOT_WAIT
            if response.status_code == 404:
                say(f"gate: there is no request {request_id} on {server}")
                return CANNOT_WAIT
            if response.status_code != 200:
                problem = f"the gate server answered HTTP {response.status_code}; retrying"
            else:
                body = _json(response)
                state = body.get("state") if isinstance(body, dict) else None
                if state == "approved":
                    say(f"gate: request {request_id} is approved; push the same commits again.")
                    return APPROVED
                if state == "denied":
                    for denial in body.get("denials", []):
                        say(f"gate: denied by {denial.get('reviewer')}: {denial.get('comment')!r}")
                    say(f"gate: request {request_id} is denied; revise the change.")
                    return DENIED
                if state == "superseded":
                    newer = body.get("superseded_by")
                    say(
                        f"gate: request {request_id} was superseded by request {newer} "
                        "(a newer push); wait for that one instead."
                    )
                    return DENIED
                if state == "pending":
                    progress = body.get("progress", "")
                    if progress != last_progress:
                        say(f"gate: request {request_id} is pending {progress}".rstrip())
                        last_progress = progress
                else:
                    problem = "the gate server sent an answer gate wait cannot use; retrying"
        if problem and problem != last_problem:
            say(f"gate: {problem}")
        last_problem = problem
        if deadline is not None and clock() + interval > deadline:
            remaining = deadline - clock()
            if remaining <= 0:
                say(f"gate: timed out waiting for request {request_id}; it is still undecided.")
                return TIMED_OUT
            sleep(remaining)
            deadline = clock()  # one last look, then give up
            continue
        sleep(interval)


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _message(response: Any) -> str:
    body = _json(response)
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])[:200]
    return f"HTTP {response.status_code}"
