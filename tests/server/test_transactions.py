"""Services never commit: the edge that called them decides. A read that closes a pause which
ran out leaves that to the caller's transaction; rolled back, nothing of it remains."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from gate.server.database import command
from gate.server.services.actor import Actor
from tests.support.server import add_reviewer


def test_reading_pauses_commits_nothing(app) -> None:  # type: ignore[no-untyped-def]
    from gate.server.extensions import db
    from gate.server.models import AuditRecord, Pause, User
    from gate.server.services.pauses import in_force, recent_pauses, start_pause

    add_reviewer(app, "root", role="admin")
    with command(app):
        root = db.session.scalar(select(User).where(User.username == "root"))
        soon = datetime.now(UTC) + timedelta(hours=1)
        start_pause(root, "short", ["all"], soon, actor=Actor.cli_password(root))
    with command(app):
        pause = db.session.scalar(select(Pause))
        pause.until = datetime.now(UTC) - timedelta(seconds=1)  # type: ignore[union-attr]
    with app.app_context():
        assert recent_pauses()[0].end_kind == "expired"  # closed in this transaction only
        db.session.rollback()
        assert db.session.scalar(select(Pause.ended_at)) is None
        assert "pause.expired" not in db.session.scalars(select(AuditRecord.action)).all()
        assert len(in_force()) == 0  # ran out, though not yet recorded
    with command(app):
        recent_pauses()
    with app.app_context():
        assert db.session.scalar(select(Pause.end_kind)) == "expired"
