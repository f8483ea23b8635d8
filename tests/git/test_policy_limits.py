"""gate.git.policy.limits: the policy check refuses exactly what the server cannot record."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gate.git.policy import PolicyError, parse_policy
from gate.git.policy.limits import MAX_APPROVALS, MAX_EMAIL, MAX_GUARD_NAME, MAX_PUSHER_NAME

HEAD = 'protected_refs = ["refs/heads/main"]\n'


def policy(name: str = "g", approvals: int = 1, pusher: str = "agent-1", email: str = "o@x.org"):  # type: ignore[no-untyped-def]
    text = (
        HEAD
        + f'[[guard]]\nname = "{name}"\npaths = ["x/**"]\napprovals = {approvals}\n'
        + f'[agents.owners]\n"{pusher}" = "{email}"\n'
    )
    return parse_policy(text.encode(), "policy.toml")


def problem(**fields: object) -> tuple[int | None, str]:
    with pytest.raises(PolicyError) as caught:
        policy(**fields)  # type: ignore[arg-type]
    (found,) = caught.value.problems
    return found


def test_every_limit_itself_is_accepted() -> None:
    email = "o" * (MAX_EMAIL - len("@x.org")) + "@x.org"
    checked = policy("g" * MAX_GUARD_NAME, MAX_APPROVALS, "p" * MAX_PUSHER_NAME, email)
    assert checked.guards[0].approvals == MAX_APPROVALS
    assert checked.agents.owner_of("p" * MAX_PUSHER_NAME) == email


def test_approvals_beyond_the_limit() -> None:
    assert problem(approvals=MAX_APPROVALS + 1) == (
        5,
        f"guard 'g': 'approvals' must be at most {MAX_APPROVALS}, not {MAX_APPROVALS + 1}",
    )


def test_guard_name_beyond_the_limit() -> None:
    line, message = problem(name="g" * (MAX_GUARD_NAME + 1))
    assert line == 3
    assert message == (
        f"guard #1 has a name of {MAX_GUARD_NAME + 1} characters; at most {MAX_GUARD_NAME}"
    )


def test_owner_beyond_the_limits() -> None:
    line, message = problem(pusher="p" * (MAX_PUSHER_NAME + 1))
    assert line == 7 and f"at most {MAX_PUSHER_NAME}" in message
    line, message = problem(email="o" * MAX_EMAIL + "@x.org")
    assert line == 7 and f"at most {MAX_EMAIL}" in message


def test_policy_check_refuses_what_the_server_would(tmp_path: Path) -> None:
    file = tmp_path / "policy.toml"
    file.write_text(
        HEAD + f'[[guard]]\nname = "g"\npaths = ["x/**"]\napprovals = {MAX_APPROVALS + 1}\n'
    )
    result = subprocess.run(
        [str(Path(sys.executable).parent / "gate"), "policy", "check", str(file)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{file}:5: guard 'g': 'approvals' must be at most {MAX_APPROVALS}" in result.stderr
