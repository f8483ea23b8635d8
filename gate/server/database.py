"""The database at the edges: ``gate db upgrade``, and the one unit of work per web request,
API call or CLI command. Services never commit; the edge that called them does, once."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from flask import Flask, current_app
from flask_migrate import upgrade
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from gate.errors import GateError
from gate.resources import resource_dir
from gate.server.extensions import db

T = TypeVar("T")
UPGRADE = "run `gate db upgrade`"


class DatabaseUnavailable(GateError):
    """The database cannot serve gate: out of reach, or without the schema this gate needs."""


def database_name(app_or_url: Flask | str) -> str:
    """The database URL as shown to people: never its password."""
    uri = (
        app_or_url if isinstance(app_or_url, str) else app_or_url.config["SQLALCHEMY_DATABASE_URI"]
    )
    return make_url(uri).render_as_string(hide_password=True)


def _sqlite_file(app: Flask) -> Path | None:
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def unreachable(app_or_url: Flask | str, exc: DBAPIError) -> DatabaseUnavailable:
    """A failed connection or lost server, said in one paragraph that names the fix."""
    reason = " ".join(str(exc.orig if exc.orig is not None else exc).split())
    reason = re.sub(r"^connection failed: ", "", reason)[:400]
    stop = "" if reason.endswith((".", "?", "!")) else "."
    return DatabaseUnavailable(
        f"cannot reach the database {database_name(app_or_url)}: {reason}{stop} "
        "Check GATE_DATABASE_URL, that the database server is running and that the database "
        "exists."
    )


def schema_revision(app: Flask) -> str | None:
    """The schema revision the database is at; None when it has no gate schema (or, for a
    SQLite file, does not exist: it is not created by looking)."""
    sqlite_file = _sqlite_file(app)
    if sqlite_file is not None and not sqlite_file.exists():
        return None
    with app.app_context():
        try:
            with db.engine.connect() as connection:
                return MigrationContext.configure(connection).get_current_revision()
        except (OperationalError, InterfaceError) as exc:
            raise unreachable(app, exc) from None


def _scripts() -> ScriptDirectory:
    return ScriptDirectory(str(resource_dir("migrations")))


def _known(scripts: ScriptDirectory, revision: str) -> bool:
    try:
        return scripts.get_revision(revision) is not None
    except CommandError:  # alembic's ResolutionError included
        return False


def _unknown_revision(app: Flask, revision: str) -> DatabaseUnavailable:
    from gate import __version__

    return DatabaseUnavailable(
        f"the database {database_name(app)} is at schema revision {revision}, which gate "
        f"{__version__} does not know: a newer gate upgraded it. Run that gate, or restore the "
        "database from before the upgrade."
    )


def require_schema(app: Flask) -> None:
    """Refuse, in one paragraph, unless the database is reachable and at this gate's schema."""
    scripts = _scripts()
    current, head = schema_revision(app), scripts.get_current_head()
    if current == head:
        return
    if current is None:
        raise DatabaseUnavailable(
            f"the database {database_name(app)} has no gate schema: {UPGRADE} to create it."
        )
    if not _known(scripts, current):
        raise _unknown_revision(app, current)
    raise DatabaseUnavailable(
        f"the database {database_name(app)} is at schema revision {current}, and this gate "
        f"needs {head}: {UPGRADE}."
    )


def upgrade_database(app: Flask) -> str:
    """Create or migrate the schema to this gate's newest revision; says which it did."""
    sqlite_file = _sqlite_file(app)
    if sqlite_file is not None:
        sqlite_file.parent.mkdir(parents=True, exist_ok=True)
    before = schema_revision(app)
    if before is not None and not _known(_scripts(), before):
        raise _unknown_revision(app, before)
    with app.app_context():
        try:
            upgrade(directory=str(resource_dir("migrations")))
        except (OperationalError, InterfaceError) as exc:
            raise unreachable(app, exc) from None
    after = schema_revision(app)
    if before is None:
        return f"created the schema at revision {after}"
    if before == after:
        return f"the schema is already at revision {after}"
    return f"upgraded the schema from revision {before} to {after}"


@contextmanager
def transaction() -> Iterator[None]:
    """One unit of work: commits when the block ends, rolls everything back if it raises.

    Whatever the session held before the block is part of it: edges open one only where
    nothing is pending (a CLI command, or after an explicit rollback in a web request).
    """
    try:
        yield
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def committed(work: Callable[[], T], *, attempts: int = 2) -> T:
    """``work()`` in its own transaction, run again when it lost a race to insert the same
    unique key (another writer committed it first: the next attempt finds it)."""
    for attempt in range(1, attempts + 1):
        try:
            with transaction():
                return work()
        except IntegrityError:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


@contextmanager
def command(app: Flask) -> Iterator[None]:
    """A CLI command's unit of work: the app context and one transaction around it."""
    with app.app_context(), transaction():
        yield


def commit_request(response: T) -> T:
    """After a web request or API call: commit what it did (an error path already rolled back;
    an exception that escaped never reaches here, and the session is discarded)."""
    db.session.commit()
    return response


def database_unavailable(exc: SQLAlchemyError) -> str | None:
    """What to tell a client when ``exc`` means the database cannot do any work now (down,
    unreachable, out of connections, or its disk full), logged with the driver's detail; None
    for any other error (a bug, not an outage). Nothing was recorded: the transaction failed."""
    if not isinstance(exc, OperationalError | InterfaceError | DisconnectionError | PoolTimeout):
        return None
    current_app.logger.error("gate: database unavailable: %s", exc)
    return (
        "the gate server cannot use its database (down, unreachable or full); "
        "nothing was recorded, and the server's log has the cause"
    )
