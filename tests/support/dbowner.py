"""What whoever owns the database can do that gate cannot: change the audit tables with the
append-only triggers out of the way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import Connection, select, text, update

_SQLITE_TRIGGERS = [
    (table, verb) for table in ("audit_log", "audit_checkpoints") for verb in ("UPDATE", "DELETE")
]


def as_database_owner(app: Flask, work: Callable[[Connection], Any] | str) -> None:
    """Run ``work`` (a function of the connection, or one SQL statement) in one transaction,
    bypassing the append-only triggers: PostgreSQL's replica role skips them; on SQLite (which
    cannot disable a trigger) they are dropped and re-created around it."""
    from gate.server.extensions import db

    with app.app_context(), db.engine.begin() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            for table, verb in _SQLITE_TRIGGERS:
                conn.execute(text(f"DROP TRIGGER {table}_no_{verb.lower()}"))
        else:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        if isinstance(work, str):
            conn.execute(text(work))
        else:
            work(conn)
        if sqlite:
            for table, verb in _SQLITE_TRIGGERS:
                conn.execute(
                    text(
                        f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                        f"BEGIN SELECT RAISE(ABORT, 'gate: {verb} on {table} refused: "
                        "the audit trail is append-only'); END"
                    )
                )
        db.session.remove()


def rewrite_record(app: Flask, seq: int, change: Callable[[dict[str, Any]], None]) -> None:
    """Change record ``seq`` with ``change(record)`` and re-hash the chain from there, as a
    forger who knows the hashing rules would: every stored record is then self-consistent."""
    from gate.audit.verify import GENESIS, record_hash
    from gate.server.extensions import db
    from gate.server.models import AuditRecord
    from gate.server.services.audit import exported

    with app.app_context():
        rows = [exported(r) for r in db.session.scalars(select(AuditRecord).order_by("seq"))]
    prev = rows[seq - 2]["hash"] if seq > 1 else GENESIS
    later = rows[seq - 1 :]
    for row in later:
        if row["seq"] == seq:
            change(row)
        row["prev_hash"] = prev
        row["hash"] = prev = record_hash(row)
    table = AuditRecord.__table__

    def forge(conn: Connection) -> None:
        for row in later:  # park the hashes first: they are unique
            conn.execute(
                update(table).where(table.c.seq == row["seq"]).values(hash=f"parked-{row['seq']}")
            )
        for row in later:
            conn.execute(
                update(table)
                .where(table.c.seq == row["seq"])
                .values(
                    subject=row["subject"],
                    actor=row["actor"],
                    prev_hash=row["prev_hash"],
                    hash=row["hash"],
                )
            )

    as_database_owner(app, forge)
