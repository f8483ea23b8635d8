"""The database at the edges: ``gate db upgrade``, and the one unit of work per web request,
API call or CLI command. Services never commit; the edge that called them does, once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from flask import Flask, current_app
from flask_migrate import upgrade
from sqlalchemy.exc import (
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from gate.resources import resource_dir
from gate.server.extensions import db

T = TypeVar("T")


def upgrade_database(app: Flask) -> None:
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:///:memory:"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    with app.app_context():
        upgrade(directory=str(resource_dir("migrations")))


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
