"""gate pause start|stop|status: freeze agent changes to guarded paths, checked by an admin's
password."""

from __future__ import annotations

from flask import Flask

from gate.clock import parse_moment, utc_text
from gate.errors import GateError, InputError


def _describe(pause) -> str:  # type: ignore[no-untyped-def]
    scope = "all guards" if pause.is_all else "guards " + ", ".join(pause.scope)
    until = f" until {utc_text(pause.until)}" if pause.until else " until stopped"
    return f"pause {pause.id} of {scope}{until}: {pause.reason!r}"


def start(
    app: Flask, username: str, password: str, reason: str, scope: list[str], until: str | None
) -> list[str]:
    from gate.server.services.pauses import admin_for, start_pause

    try:
        moment = parse_moment(until) if until is not None else None
    except InputError as exc:
        raise GateError(f"--until: {exc}") from None
    with app.app_context():
        admin = admin_for(username, password)
        pause = start_pause(admin, reason, scope, moment, auth="cli-password")
        return [
            f"started {_describe(pause)}",
            "agent pushes to these guards are refused until the pause ends; human pushes are not affected",
        ]


def stop(app: Flask, username: str, password: str, pause_id: int | None) -> list[str]:
    from gate.server.services.pauses import admin_for, stop_pauses

    with app.app_context():
        admin = admin_for(username, password)
        return [
            f"stopped {_describe(p)}" for p in stop_pauses(admin, pause_id, auth="cli-password")
        ]


def status(app: Flask) -> list[str]:
    from gate.server.services.pauses import in_force, recent_pauses

    with app.app_context():
        recent_pauses()  # closes expired pauses first
        current = in_force()
        if not current:
            return ["no pause is in force"]
        return [
            f"in force: {_describe(p)} (started {utc_text(p.started_at)} by {p.started_by.display})"
            for p in current
        ]
