"""Every write waits for the audit lock before it changes a row, so writers never deadlock.

A hold, a post-receive report and a heartbeat for a repository the server has not heard of yet
each create the repository's row. When one of them inserted the name before taking the lock
and another took the lock first and then inserted the same name, each waited for the other and
PostgreSQL failed the hold ("deadlock detected"): the agent's push was refused as if the
database were down. Real HTTP against a real threaded server; on SQLite and on PostgreSQL
(GATE_TEST_DATABASE_URL), where the deadlock was seen.
"""

from __future__ import annotations

import threading
from typing import Any

import requests
from sqlalchemy import func, select

from gate import wire
from tests.server.test_token_scopes import heartbeat_for, hold_for, report_for
from tests.support.audit import audit_problems
from tests.support.server import LiveServer, new_token

REPOSITORIES = 12


def post_together(url: str, token: str, calls: list[tuple[str, dict[str, Any]]]) -> list[int]:
    start = threading.Barrier(len(calls))
    statuses: list[int] = []

    def post(path: str, body: dict[str, Any]) -> None:
        data, headers = wire.encode(body)
        start.wait()
        answer = requests.post(
            url + path,
            data=data,
            headers={**headers, "Authorization": f"Bearer {token}"},
            timeout=120,
        )
        statuses.append(answer.status_code)

    threads = [threading.Thread(target=post, args=call) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    return statuses


def test_first_hold_report_and_heartbeat_of_new_repositories_all_succeed(
    server: LiveServer,
) -> None:
    from gate.server.extensions import db
    from gate.server.models import ApprovalRequest, Repository

    token = new_token(server.app)
    calls: list[tuple[str, dict[str, Any]]] = []
    for n in range(REPOSITORIES):
        name = f"fresh/repo-{n}"
        calls += [
            (wire.HOLDS_PATH, hold_for(name)(n)),
            (wire.PUSHES_PATH, report_for(name)(n)),
            (wire.HEARTBEATS_PATH, heartbeat_for(name)),
        ]
    statuses = post_together(server.url, token, calls)
    assert sorted(statuses) == [200] * len(calls)
    with server.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Repository)) == REPOSITORIES
        assert db.session.scalar(select(func.count()).select_from(ApprovalRequest)) == REPOSITORIES
    assert audit_problems(server.app) == []


def test_a_row_written_outside_any_service_still_takes_the_lock_first(app) -> None:  # type: ignore[no-untyped-def]
    """The rule lives in the session, not in each service: a flush of a new row and an UPDATE
    statement both hold the lock by the time they reach the database."""
    from sqlalchemy import update

    from gate.server.extensions import db
    from gate.server.models import Repository
    from gate.server.services import audit

    with app.app_context():
        session = db.session()
        assert session.info.get(audit._LOCKED) is None
        session.add(Repository(name="written-directly"))
        session.flush()
        assert session.info[audit._LOCKED] is audit._locked_in(session)
        session.commit()
    with app.app_context():
        session = db.session()
        session.execute(update(Repository).values(name="renamed"))
        assert session.info[audit._LOCKED] is audit._locked_in(session)
        session.rollback()


def test_a_writer_holding_the_lock_never_waits_for_a_row_a_lockless_writer_made(app) -> None:  # type: ignore[no-untyped-def]
    """The interleaving that deadlocked, forced: writer 1 creates a repository's row; writer 2
    takes the lock and asks for the same repository; writer 1 then appends to the audit log.
    Writer 1's insert took the lock, so writer 2 waits for it at the lock (not at the row)
    until writer 1 commits, and then finds the repository writer 1 made."""
    import pytest

    from gate.server.database import command
    from gate.server.extensions import db
    from gate.server.models import Repository
    from gate.server.services import audit
    from gate.server.services.actor import SYSTEM
    from gate.server.services.holds import repository_named

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite has one write lock for the whole database and no row locks")

    created = threading.Event()
    found: list[int] = []
    failures: list[BaseException] = []

    def second_writer() -> None:
        try:
            created.wait(60)
            with command(app):
                audit.lock()
                found.append(repository_named("contended").id)
        except BaseException as error:  # reported by the main thread
            failures.append(error)

    thread = threading.Thread(target=second_writer)
    thread.start()
    with command(app):
        first = repository_named("contended").id
        created.set()
        waiting = 0
        for _ in range(6000):  # until writer 2 is blocked in the database
            waiting = (
                db.session.scalar(
                    select(func.count())
                    .select_from(db.text("pg_locks"))
                    .where(db.text("NOT granted"))
                )
                or 0
            )
            if waiting:
                break
            threading.Event().wait(0.01)
        assert waiting, "writer 2 never waited for writer 1"
        audit.append("test.contended", actor=SYSTEM, subject={"repository": "contended"})
    thread.join(60)
    assert failures == [] and found == [first]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Repository)) == 1
