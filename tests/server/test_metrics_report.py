"""/metrics reads the audit log in pages of the records it needs, and shows the same figures as
the report computed over every record (what `gate report` and an export reproduce)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from gate.disclosure.compute import compute_report
from gate.server.database import command
from gate.server.services.actor import Actor
from gate.server.services.disclosure import REPORT_ACTIONS
from tests.support.audit import audit_records
from tests.support.auditlog import build_history, commit_item
from tests.support.auditlog import push as hook_push
from tests.support.sql import statements


def push_report(n: int, guard: str, agent: int, human: int) -> dict:  # type: ignore[type-arg]
    return {
        "report_id": f"{n:032x}",
        "repository": "repo",
        "pusher": "agent-bot" if agent else "alice",
        "pushed_at": f"2026-01-{n % 27 + 1:02d}T12:00:00Z",
        "policy": {"sha256": "ab" * 32, "guards": ["train", "model"]},
        "refs": [{"ref": "refs/heads/main", "old": "0" * 40, "new": f"{n:040x}"}],
        "commits": agent + human,
        "guarded": [
            {
                "guard": guard,
                "day": f"2026-01-{n % 20 + 1:02d}",
                "agent": agent,
                "human": human,
                "agents": {"Claude Code": agent} if agent else {},
            }
        ],
        "agent_commits": [],
        "agent_commits_truncated": False,
        "remembered": [],
        "remembered_truncated": False,
        "remembered_count": 0,
    }


@pytest.fixture
def filled(app):  # type: ignore[no-untyped-def]
    """A log with every kind of record the report reads, and many it does not."""
    from gate.server.extensions import db
    from gate.server.models import User
    from gate.server.services.accounts import add_user, authenticate
    from gate.server.services.pauses import start_pause, stop_pauses
    from gate.server.services.pushes import record_push

    build_history(app)
    with command(app):
        add_user("root", "Root Admin", "root@example.com", "x" * 12, "admin", actor=Actor.cli())
    with command(app):
        root = db.session.scalar(select(User).where(User.username == "root"))
        start_pause(root, "incident", ["train"], None, actor=Actor.cli_password(root))
    hook_push(app, [commit_item(9, "train")])  # held, then refused while paused
    with command(app):
        root = db.session.scalar(select(User).where(User.username == "root"))
        stop_pauses(root, actor=Actor.cli_password(root))
        for n in range(12):
            record_push(push_report(n, ("train", "model")[n % 2], n % 3, n % 4), Actor("hook", "t"))
        for n in range(7):
            authenticate(f"nobody{n}", "wrong")  # login.failed: not read by the report
    return app


def test_paged_report_equals_the_report_over_every_record(filled) -> None:  # type: ignore[no-untyped-def]
    from gate.server.services.disclosure import disclosure_report, report_records

    everything = audit_records(filled)
    actions = {r["action"] for r in everything}
    assert {"push.accepted", "pause.started", "push.refused", "login.failed"} <= actions
    since = datetime(2026, 1, 5, tzinfo=UTC)
    until = datetime.now(UTC) + timedelta(days=1)
    with filled.app_context():
        for args in ((None, None, "commit"), (since, None, "push"), (since, until, "commit")):
            expected = compute_report(everything, *args)
            assert disclosure_report(*args) == expected
            paged = compute_report(report_records(page=3), *args)
            assert {**paged, "records": expected["records"]} == expected
        with statements(filled) as seen:
            list(report_records(page=3))
    read = [s for s in seen if "FROM audit_log" in s]
    relevant = sum(r["action"] in REPORT_ACTIONS for r in everything)
    assert len(read) == relevant // 3 + 1, "one query per page, no more"


def test_metrics_page_shows_the_full_report(filled, server) -> None:  # type: ignore[no-untyped-def]
    from gate.server.services.accounts import add_user
    from tests.support.server import PASSWORD

    with command(filled):
        add_user(
            "auditor", "Ann Auditor", "ann@example.com", PASSWORD, "auditor", actor=Actor.cli()
        )
    page = server.reviewer("auditor").page("/metrics/report.json?week_by=push")
    assert page.ok
    assert json.loads(page.text) == json.loads(
        json.dumps(compute_report(audit_records(filled), week_by="push"))
    )
