"""gate pause start|stop|status: freeze agent changes to guarded paths, checked by an admin's
password."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

from gate.clock import parse_moment, utc_text
from gate.errors import GateError, InputError

if TYPE_CHECKING:
    from gate.server.models import User


def _describe(pause) -> str:  # type: ignore[no-untyped-def]
    scope = "all guards" if pause.is_all else "guards " + ", ".join(pause.scope)
    until = f" until {utc_text(pause.until)}" if pause.until else " until stopped"
    return f"pause {pause.id} of {scope}{until}: {pause.reason!r}"


def _admin(username: str, password: str) -> User:
    """The admin named on the command line; a wrong password is recorded (and committed)
    before the command is refused, as a failed web login is."""
    from gate.server.database import transaction
    from gate.server.services.accounts import authenticate
    from gate.server.services.pauses import require_admin

    with transaction():
        user = authenticate(username, password)
    return require_admin(user)


def start(
    app: Flask, username: str, password: str, reason: str, scope: list[str], until: str | None
) -> list[str]:
    from gate.server.database import transaction
    from gate.server.services.actor import Actor
    from gate.server.services.pauses import start_pause

    try:
        moment = parse_moment(until) if until is not None else None
    except InputError as exc:
        raise GateError(f"--until: {exc}") from None
    with app.app_context():
        admin = _admin(username, password)
        with transaction():
            pause = start_pause(admin, reason, scope, moment, actor=Actor.cli_password(admin))
        return [
            f"started {_describe(pause)}",
            "agent pushes to these guards are refused until the pause ends; human pushes are not affected",
        ]


def stop(app: Flask, username: str, password: str, pause_id: int | None) -> list[str]:
    from gate.server.database import transaction
    from gate.server.services.actor import Actor
    from gate.server.services.pauses import stop_pauses

    with app.app_context():
        admin = _admin(username, password)
        with transaction():
            stopped = stop_pauses(admin, pause_id, actor=Actor.cli_password(admin))
        return [f"stopped {_describe(p)}" for p in stopped]


def status(app: Flask) -> list[str]:
    from gate.server.database import command
    from gate.server.services.pauses import expire_due, in_force

    with command(app):
        expire_due()
        current = in_force()
        if not current:
            return ["no pause is in force"]
        return [
            f"in force: {_describe(p)} (started {utc_text(p.started_at)} by {p.started_by.display})"
            for p in current
        ]
