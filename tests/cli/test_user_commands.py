"""gate user list / disable / enable / reset-password: audited, and a disable or a new
password ends the user's sessions at once."""

from __future__ import annotations

from sqlalchemy import select

from gate.server.extensions import db
from gate.server.models import AuditRecord
from tests.support.cli import run_gate
from tests.support.reviewer import ReviewerSession
from tests.support.server import LiveServer, add_reviewer

NEW_PASSWORD = "a brand new password"


def actions(app) -> list[tuple[str, str, dict]]:  # type: ignore[no-untyped-def,type-arg]
    with app.app_context():
        return [
            (r.action, r.actor_auth, r.subject)
            for r in db.session.scalars(
                select(AuditRecord)
                .where(AuditRecord.action.like("user.%"))
                .order_by(AuditRecord.seq)
            )
        ]


def signed_in(server: LiveServer, session: ReviewerSession) -> bool:
    return "/login" not in session.page("/requests").url


def test_disable_enable_and_reset_end_sessions_and_are_audited(server: LiveServer) -> None:
    app = server.app
    add_reviewer(app, "alice")
    add_reviewer(app, "bob", role="admin")
    listed = run_gate(app, "user", "list")
    assert listed.exit_code == 0
    assert listed.stdout.splitlines() == [
        "alice\treviewer\tenabled\tAlice Reviewer <alice@example.com>",
        "bob\tadmin\tenabled\tBob Reviewer <bob@example.com>",
    ]

    alice = server.reviewer("alice")
    assert signed_in(server, alice)
    disabled = run_gate(app, "user", "disable", "alice")
    assert disabled.exit_code == 0 and "their sessions have ended" in disabled.stdout
    assert not signed_in(server, alice)
    assert "alice\treviewer\tdisabled\t" in run_gate(app, "user", "list").stdout
    again = run_gate(app, "user", "disable", "alice")
    assert again.exit_code == 0 and "was already disabled" in again.stdout
    assert run_gate(app, "user", "enable", "alice").exit_code == 0

    alice = server.reviewer("alice")
    reset = run_gate(
        app, "user", "reset-password", "alice", "--password-stdin", input=f"{NEW_PASSWORD}\n"
    )
    assert reset.exit_code == 0, reset.stderr
    assert not signed_in(server, alice)
    assert signed_in(server, server.reviewer("alice", NEW_PASSWORD))

    short = run_gate(app, "user", "reset-password", "alice", "--password-stdin", input="short\n")
    assert short.exit_code == 1 and "at least" in short.stderr
    nobody = run_gate(app, "user", "disable", "nobody")
    assert nobody.exit_code == 1 and "there is no user 'nobody'" in nobody.stderr
    assert "Traceback" not in short.stderr + nobody.stderr

    recorded = [(action, auth, subject["user"]) for action, auth, subject in actions(app)]
    assert recorded[-3:] == [
        ("user.disabled", "cli", "alice"),
        ("user.enabled", "cli", "alice"),
        ("user.password_reset", "cli", "alice"),
    ]
