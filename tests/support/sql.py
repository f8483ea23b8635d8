"""Count the SQL statements a piece of code sends, for tests that bound them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event


@contextmanager
def statements(app) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    """The statements sent through the app's engine while the block runs."""
    from gate.server.extensions import db

    seen: list[str] = []
    with app.app_context():
        engine = db.engine

    def record(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def insert_request(  # type: ignore[no-untyped-def]
    conn,
    request_id: int,
    *,
    state: str = "pending",
    required: str = '{"t": 1}',
    new: str = "0" * 40,
    repository: str = "r",
) -> None:
    """Repository 1 (named ``repository``) and one request in it, in raw SQL: migration tests
    write rows as an older schema had them, which the models (at the newest schema) cannot."""
    from sqlalchemy import text

    conn.execute(
        text("INSERT INTO repositories (id, name, created_at) VALUES (1, :name, '2026-01-01')"),
        {"name": repository},
    )
    conn.execute(
        text(
            "INSERT INTO requests (id, repository_id, ref, old, new, state, required, "
            "policy_sha256, created_at) VALUES (:id, 1, 'refs/heads/main', :z, :new, :state, "
            ":required, :z, '2026-01-01')"
        ),
        {"id": request_id, "z": "0" * 40, "new": new, "state": state, "required": required},
    )
