"""One reviewer's approval sent several times at once (a double-click) is recorded once: the
decision's checks run again under the request's lock, and the database refuses a second
standing approval. Real HTTP against a real server (threaded, and gunicorn with 2 workers),
on SQLite and on PostgreSQL (GATE_TEST_DATABASE_URL)."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from tests.support.audit import audit_problems, audit_records
from tests.support.auditlog import commit_item
from tests.support.auditlog import push as hook_push
from tests.support.reviewer import ReviewerSession, csrf_from
from tests.support.server import PASSWORD, add_reviewer, new_token

CLICKS = 6


def model_request(app) -> int:  # type: ignore[no-untyped-def]
    """A pending request for guard ``model``, which needs two distinct approvals."""
    new_token(app)
    return hook_push(app, [commit_item(1, "model")])["items"][0]["request_id"]


def clicks_at_once(
    base_url: str, username: str, request_id: int, path: str = "decision"
) -> list[int]:
    """``CLICKS`` POSTs of the same form from one logged-in browser, released together."""
    reviewer = ReviewerSession(base_url)
    assert reviewer.login(username, PASSWORD).ok
    if path == "decision":
        reviewer.view_files(request_id)
    page = reviewer.page(f"/requests/{request_id}")
    form = {"csrf_token": csrf_from(page.text)}
    if path == "decision":
        form |= {"decision": "approve", "comment": "ok", "password": PASSWORD, "attest": "yes"}
    start = threading.Barrier(CLICKS)
    statuses: list[int] = []

    def click() -> None:
        http = requests.Session()
        http.cookies.update(reviewer.http.cookies)
        start.wait()
        response = http.post(
            f"{base_url}/requests/{request_id}/{path}", data=form, allow_redirects=False
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=click) for _ in range(CLICKS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return sorted(statuses)


def standing_approvals(app, request_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    from gate.server.extensions import db
    from gate.server.models import Decision, User

    with app.app_context():
        return list(
            db.session.scalars(
                select(User.username)
                .join(Decision, Decision.reviewer_id == User.id)
                .where(
                    Decision.request_id == request_id,
                    Decision.verdict == "approve",
                    Decision.withdrawn_at.is_(None),
                )
            )
        )


def request_state(app, request_id: int) -> str:  # type: ignore[no-untyped-def]
    from gate.server.extensions import db
    from gate.server.models import ApprovalRequest

    with app.app_context():
        return db.session.get(ApprovalRequest, request_id).state  # type: ignore[union-attr]


def approvals_in_log(app, request_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        r["subject"]["reviewer"]
        for r in audit_records(app)
        if r["action"] == "decision.approve" and r["subject"]["request"] == request_id
    ]


def check_double_click_then_withdraw(app, base_url: str) -> None:  # type: ignore[no-untyped-def]
    request_id = model_request(app)
    statuses = clicks_at_once(base_url, "alice", request_id)
    assert statuses == [302] + [409] * (CLICKS - 1), statuses
    assert standing_approvals(app, request_id) == ["alice"]
    assert approvals_in_log(app, request_id) == ["alice"]
    # Withdrawn, it is gone: bob's approval alone must not make two.
    alice = ReviewerSession(base_url)
    alice.login("alice", PASSWORD)
    assert alice.withdraw(request_id).ok
    assert standing_approvals(app, request_id) == []
    bob = ReviewerSession(base_url)
    bob.login("bob", PASSWORD)
    assert bob.decide(request_id, "approve", "ok").ok
    assert standing_approvals(app, request_id) == ["bob"]
    assert request_state(app, request_id) == "pending"
    assert audit_problems(app) == []


def test_double_click_records_one_approval(app, server) -> None:  # type: ignore[no-untyped-def]
    add_reviewer(app, "alice")
    add_reviewer(app, "bob")
    check_double_click_then_withdraw(app, server.url)


def test_double_click_on_withdraw_withdraws_once(app, server) -> None:  # type: ignore[no-untyped-def]
    add_reviewer(app, "alice")
    request_id = model_request(app)
    alice = server.reviewer("alice")
    assert alice.decide(request_id, "approve", "ok").ok
    assert standing_approvals(app, request_id) == ["alice"]
    statuses = clicks_at_once(server.url, "alice", request_id, path="withdraw")
    assert statuses == [302] + [409] * (CLICKS - 1), statuses
    withdrawn = [r for r in audit_records(app) if r["action"] == "approval.withdrawn"]
    assert len(withdrawn) == 1 and standing_approvals(app, request_id) == []
    assert audit_problems(app) == []


def test_the_database_refuses_a_second_standing_approval(app) -> None:  # type: ignore[no-untyped-def]
    """The backstop under the lock: even written around the service, a twin cannot be stored."""
    from datetime import UTC, datetime

    from sqlalchemy.exc import IntegrityError

    from gate.server.extensions import db
    from gate.server.models import Decision, User

    add_reviewer(app, "alice")
    request_id = model_request(app)
    with app.app_context():
        alice = db.session.scalar(select(User).where(User.username == "alice"))
        assert alice is not None

        def approval(withdrawn: datetime | None = None) -> Decision:
            return Decision(
                request_id=request_id,
                reviewer_id=alice.id,
                verdict="approve",
                comment="",
                withdrawn_at=withdrawn,
            )

        db.session.add_all([approval(datetime.now(UTC)), approval()])
        db.session.commit()  # a withdrawn one and a standing one may coexist
        db.session.add(approval())
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_double_click_under_gunicorn_with_two_workers(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The clicks reach different processes, which share only the database."""
    add_reviewer(app, "alice")
    add_reviewer(app, "bob")
    port = _free_port()
    env = {
        **os.environ,
        "GATE_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "GATE_SECRET_KEY": secrets.token_hex(16),
        "GATE_AUDIT_KEY_DIR": app.config["GATE_AUDIT_KEY_DIR"],
    }
    log = (tmp_path / "gunicorn.log").open("wb")
    gunicorn = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "2",
            "--threads",
            "4",
            "--bind",
            f"127.0.0.1:{port}",
            "gate.server.app:create_app()",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if requests.get(f"{base_url}/login", timeout=10).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        else:
            pytest.fail("gunicorn did not start: " + (tmp_path / "gunicorn.log").read_text())
        check_double_click_then_withdraw(app, base_url)
    finally:
        gunicorn.terminate()
        gunicorn.wait(30)
        log.close()
