"""gate wait: an agent waits for a human's sign-off on a held push.

Polls ``GET /api/v1/requests/ID`` with the agent's own read token (``gate token create --agent
NAME --read``: it reads only the requests that agent account pushed; a git host's hook token
cannot read requests at all) and returns an exit code an agent loop can act on:
0 approved (push the same commits again), 1 denied or superseded (stop; a superseded request's
successor is named), 2 timed out with the request still undecided, 4 timed out without ever
learning the request's state (the server was out of reach, or only answered with errors).
Network errors and server errors are
reported and polling continues until the timeout; a refused token or an unknown request cannot
get better by waiting and returns 3.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gate import wire
from gate.git.messages import line_comment_lines

APPROVED, DENIED, TIMED_OUT, CANNOT_WAIT, UNREACHABLE = 0, 1, 2, 3, 4


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

    url = f"{server.rstrip('/')}{wire.request_path(request_id)}"
    deadline = None if timeout is None else clock() + timeout
    last_problem = ""
    last_progress = None
    reached = False  # a connection was made
    known = False  # ... and the server said what state the request is in
    while True:
        problem = ""
        try:
            response = requests.get(
                url, headers={"Authorization": f"Bearer {token}"}, timeout=min(30.0, interval * 4)
            )
        except requests.RequestException as exc:
            problem = f"cannot reach the gate server at {server} ({type(exc).__name__}); retrying"
        else:
            reached = True
            if response.status_code in (401, 403):
                say(f"the server refused the token ({_message(response)})")
                return CANNOT_WAIT
            if response.status_code == 404:
                say(f"there is no request {request_id} on {server}")
                return CANNOT_WAIT
            status = _status(response) if response.status_code == 200 else None
            known = known or status is not None
            if response.status_code != 200:
                problem = f"the gate server answered {_message(response)}; retrying"
            elif status is None:
                problem = "the gate server sent an answer gate wait cannot use; retrying"
            elif status["state"] == "approved":
                say(f"request {request_id} is approved; push the same commits again.")
                return APPROVED
            elif status["state"] == "denied":
                for denial in status["denials"]:
                    say(f"denied by {denial['reviewer']}: {denial['comment']!r}")
                    for text in line_comment_lines(denial):
                        say(f"  {text}")
                say(f"request {request_id} is denied; revise the change.")
                return DENIED
            elif status["state"] == "superseded":
                say(
                    f"request {request_id} was superseded by request {status['superseded_by']} "
                    "(a newer push); wait for that one instead."
                )
                return DENIED
            elif status["progress"] != last_progress:
                say(f"request {request_id} is pending {status['progress']}".rstrip())
                last_progress = status["progress"]
        if problem and problem != last_problem:
            say(problem)
        last_problem = problem
        if deadline is not None and clock() + interval > deadline:
            remaining = deadline - clock()
            if remaining <= 0:
                if not reached:
                    say(
                        f"timed out: cannot reach the gate server at {server}; nothing is known "
                        f"about request {request_id}."
                    )
                    return UNREACHABLE
                if not known:
                    say(
                        f"timed out: the gate server at {server} never said what state request "
                        f"{request_id} is in ({last_problem.removesuffix('; retrying')})."
                    )
                    return UNREACHABLE
                say(f"timed out waiting for request {request_id}; it is still undecided.")
                return TIMED_OUT
            sleep(remaining)
            deadline = clock()  # one last look, then give up
            continue
        sleep(interval)


def _status(response: Any) -> dict[str, Any] | None:
    try:
        return wire.parse_request_status(response.json())
    except (ValueError, wire.WireError):
        return None


def _message(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    text = wire.error_text(body)
    return f"HTTP {response.status_code}: {text}" if text else f"HTTP {response.status_code}"
