"""Services never commit: the edge that called them decides. A read that closes a pause which
ran out leaves that to the caller's transaction; rolled back, nothing of it remains."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from gate.server.database import command
from gate.server.services.actor import Actor
from tests.support.auditlog import PASSWORD, commit_item
from tests.support.auditlog import push as hook_push
from tests.support.reading import view_guarded_files
from tests.support.server import add_reviewer, new_token


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


def test_a_decision_is_kept_only_when_its_edge_commits(app) -> None:  # type: ignore[no-untyped-def]
    """``decide`` (step-up, audit records, settling the request) writes nothing of its own: the
    same approval rolled back by its caller leaves no trace, committed it is all there."""
    from gate.server.extensions import db
    from gate.server.models import ApprovalRequest, AuditRecord, Decision, User
    from gate.server.services.decisions import decide, get_request

    add_reviewer(app, "alice")
    new_token(app)
    request_id = hook_push(app, [commit_item(1, "train")])["items"][0]["request_id"]

    def approve_as_alice() -> None:
        alice = db.session.scalar(select(User).where(User.username == "alice"))
        assert alice is not None
        actor = Actor.web(alice, "password")
        view_guarded_files(get_request(request_id), alice)
        decide(
            get_request(request_id),
            alice,
            "approve",
            "ok",
            actor=actor,
            password=PASSWORD,
            attest=True,
        )

    with app.app_context():
        records_before = db.session.scalar(select(func.count()).select_from(AuditRecord))
        approve_as_alice()
        db.session.rollback()
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Decision)) == 0
        assert db.session.scalar(select(func.count()).select_from(AuditRecord)) == records_before
        assert db.session.get(ApprovalRequest, request_id).state == "pending"  # type: ignore[union-attr]
    with command(app):
        approve_as_alice()
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Decision)) == 1
        assert db.session.get(ApprovalRequest, request_id).state == "approved"  # type: ignore[union-attr]
        actions = db.session.scalars(select(AuditRecord.action).order_by(AuditRecord.seq)).all()
        assert actions[-2:] == ["decision.approve", "request.approved"]
