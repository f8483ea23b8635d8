"""Heartbeats on the server: the hook token's route, the admins' repository page, and the alerts
(audit record, webhook, banner) when a repository's hooks go quiet or doctor reports problems."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import select

from gate import wire
from gate.clock import utc_text
from tests.support.audit import audit_records
from tests.support.cli import run_gate
from tests.support.server import LiveServer, add_reviewer, heartbeat_of, new_token

WINDOW = 26 * 3600  # GATE_HEARTBEAT_OVERDUE_SECONDS's default


@pytest.fixture
def app_overrides() -> dict[str, object]:
    return {"GATE_WEBHOOK_ALLOW_PRIVATE": True}


@pytest.fixture
def admin(server: LiveServer):  # type: ignore[no-untyped-def]
    add_reviewer(server.app, "root", role="admin")
    return server.reviewer("root")


def beat(server: LiveServer, token: str | None, **changes: Any) -> requests.Response:
    body = wire.heartbeat(
        repository="models",
        source="post-receive",
        hook_version="0.1.0",
        layout="git",
        sent_at=utc_text(datetime.now(UTC)),
        pusher_known=True,
        problems=[],
    )
    body.update(changes)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(
        f"{server.url}{wire.HEARTBEATS_PATH}", json=body, headers=headers, timeout=30
    )


def actions(server: LiveServer, prefix: str = "repository.") -> list[dict[str, Any]]:
    return [r for r in audit_records(server.app) if r["action"].startswith(prefix)]


def webhook(server: LiveServer) -> None:
    from gate.server.database import command
    from gate.server.services.actor import Actor
    from gate.server.services.notify import add_webhook

    with command(server.app):
        add_webhook("http://127.0.0.1:9/hook", "json", [], actor=Actor.cli())


def deliveries(server: LiveServer) -> list[dict[str, Any]]:
    from gate.server.extensions import db
    from gate.server.models import WebhookDelivery

    with server.app.app_context():
        rows = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
        return [d.body for d in rows]


def check_overdue(server: LiveServer, now: datetime) -> list[str]:
    from gate.server.database import command
    from gate.server.services.heartbeats import check_overdue as check

    with command(server.app):
        return check(now)


def test_a_heartbeat_needs_a_hook_token(server: LiveServer) -> None:
    for token in (None, "not-a-token"):
        refused = beat(server, token)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
    assert heartbeat_of(server.app, "models") is None


def test_a_malformed_heartbeat_is_refused_in_one_line(server: LiveServer) -> None:
    refused = beat(server, new_token(server.app), source="cron")
    assert refused.status_code == 400
    assert "source must be one of post-receive, doctor" in refused.json()["error"]["message"]
    assert heartbeat_of(server.app, "models") is None


def test_the_admin_page_lists_each_repository_with_its_last_heartbeat(
    server: LiveServer, admin
) -> None:  # type: ignore[no-untyped-def]
    token = new_token(server.app)
    answer = beat(server, token, hook_version="0.1.0", layout="gitolite").json()
    assert answer["recorded"] is True and wire.parse_heartbeat_answer(answer)["checkpoint"]
    assert beat(server, token, repository="wiki", layout="gitlab", pusher_known=False).ok
    page = admin.page("/admin/repositories")
    assert page.ok
    for text in ("models", "gitolite", "0.1.0", "wiki", "gitlab", "post-receive"):
        assert text in page.text
    assert "REPOSITORY ALERT" not in page.text
    wiki = heartbeat_of(server.app, "wiki")
    assert wiki.unknown_pusher_pushes == 1 and wiki.unknown_pusher_at is not None
    assert heartbeat_of(server.app, "models").unknown_pusher_pushes == 0

    add_reviewer(server.app, "alice")
    assert server.reviewer("alice").page("/admin/repositories").status_code == 403


def test_a_quiet_repository_raises_one_alert_until_its_hooks_beat_again(
    server: LiveServer, admin
) -> None:  # type: ignore[no-untyped-def]
    token = new_token(server.app)
    webhook(server)
    assert beat(server, token, layout="gitea").ok
    later = datetime.now(UTC) + timedelta(seconds=WINDOW + 60)
    assert check_overdue(server, later - timedelta(seconds=120)) == [], "not yet overdue"
    assert check_overdue(server, later) == ["models"]
    assert check_overdue(server, later) == [], "one alert, not one per check"

    (alert,) = actions(server)
    assert alert["action"] == "repository.heartbeat_overdue" and alert["actor"] == "system"
    assert alert["subject"]["repository"] == "models" and alert["subject"]["layout"] == "gitea"
    (sent,) = deliveries(server)
    assert sent["event"] == "repository.heartbeat_overdue"
    assert "models" in sent["message"] and "gate doctor" in sent["message"]
    page = admin.page("/requests")
    assert "REPOSITORY ALERT" in page.text and "models" in page.text

    assert beat(server, token).ok
    assert [r["action"] for r in actions(server)] == [
        "repository.heartbeat_overdue",
        "repository.heartbeat_resumed",
    ]
    assert "REPOSITORY ALERT" not in admin.page("/requests").text


def test_a_repository_known_only_from_holds_is_overdue_without_heartbeats(
    server: LiveServer,
) -> None:
    from gate.server.database import command
    from gate.server.services.holds import repository_named

    with command(server.app):
        repository_named("old-hooks")  # as a hold from a hook older than heartbeats makes it
    assert check_overdue(server, datetime.now(UTC)) == []
    assert check_overdue(server, datetime.now(UTC) + timedelta(seconds=WINDOW + 60)) == [
        "old-hooks"
    ]
    (alert,) = actions(server)
    assert alert["subject"]["last_seen_at"] is None


def test_doctor_problems_alert_once_and_clear(server: LiveServer, admin) -> None:  # type: ignore[no-untyped-def]
    token = new_token(server.app)
    webhook(server)
    problems = ["hooks/pre-receive is not gate's (the host rewrote it)"]
    for _ in range(2):
        assert beat(server, token, source="doctor", pusher_known=None, problems=problems).ok
    (alert,) = actions(server)
    assert alert["action"] == "repository.doctor_problem"
    assert alert["subject"]["problems"] == problems
    (sent,) = deliveries(server)
    assert sent["event"] == "repository.problem" and problems[0] in sent["message"]
    page = admin.page("/admin/repositories")
    assert "REPOSITORY ALERT" in page.text and "the host rewrote it" in page.text
    code = run_gate(server.app, "heartbeats", "check")
    assert code.exit_code == 1 and "models: problem" in code.stdout and problems[0] in code.stdout

    assert beat(server, token, source="doctor", pusher_known=None, problems=[]).ok
    assert [r["action"] for r in actions(server)] == [
        "repository.doctor_problem",
        "repository.doctor_healthy",
    ]
    assert "REPOSITORY ALERT" not in admin.page("/admin/repositories").text
    healthy = run_gate(server.app, "heartbeats", "check")
    assert healthy.exit_code == 0 and "models: ok" in healthy.stdout, healthy.output


def test_a_slack_webhook_gets_the_alert_as_text() -> None:
    from gate.server.services.delivery import render_body

    body = {"event": "repository.problem", "repository": {}, "message": "models <!channel>"}
    assert render_body("slack", body) == b'{"text":"gate: models &lt;!channel&gt;"}'


def test_what_gate_doctor_report_calls_sends_its_problems(server: LiveServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from gate.git.config import HookConfig
    from gate.git.heartbeat import host_layout, report_doctor

    token_file = tmp_path / "token"
    token_file.write_text(new_token(server.app) + "\n")
    config = HookConfig(server.url, str(token_file), "unused.toml", "models")
    answer, found = report_doctor(
        config, {"GITEA_REPO_NAME": "models"}, ["core.hooksPath hides hooks/"], str(tmp_path)
    )
    assert found == [], "no store, nothing reported: nothing lost"
    assert answer["recorded"] is True
    row = heartbeat_of(server.app, "models")
    assert (row.remembered_on_host, row.remembered_reported) == (0, 0)
    assert (row.source, row.layout, row.problems) == (
        "doctor",
        "gitea",
        ["core.hooksPath hides hooks/"],
    )
    assert [r["action"] for r in actions(server)] == ["repository.doctor_problem"]

    assert host_layout(config, {"GL_REPO": "models", "GL_USER": "a"}) == "gitolite"
    assert host_layout(config, {"GL_REPOSITORY": "project-1", "GL_USERNAME": "a"}) == "gitlab"
    assert host_layout(config, {"REMOTE_USER": "a"}) == "git"
    chosen = HookConfig(server.url, str(token_file), "unused.toml", "models", layout="ghes")
    assert host_layout(chosen, {"GL_REPO": "models"}) == "ghes"


def test_counts_beyond_what_the_database_holds_are_refused_not_a_500(server: LiveServer) -> None:
    """The host's and the reports' counts of remembered commits go into 32-bit columns: a
    count no real store reaches is a 400 (on PostgreSQL it was an 'integer out of range' 500
    on every heartbeat), and sums of reports stop at the wire's MAX_COUNT."""
    from gate.server.database import command
    from gate.server.services.heartbeats import count_reported_memory

    token = new_token(server.app)
    refused = beat(server, token, remembered=2**31)
    assert refused.status_code == 400, refused.text
    assert "remembered must be a whole number from 0 to" in refused.json()["error"]["message"]
    assert beat(server, token, remembered=wire.MAX_COUNT).status_code == 200
    with command(server.app):
        for _ in range(3):
            count_reported_memory("models", wire.MAX_COUNT)
    assert heartbeat_of(server.app, "models").remembered_reported == wire.MAX_COUNT
    assert beat(server, token, remembered=wire.MAX_COUNT).status_code == 200
