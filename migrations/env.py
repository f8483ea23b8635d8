"""Alembic environment for gate: the database and metadata come from the Flask app."""

from __future__ import annotations

from alembic import context
from flask import current_app

config = context.config


def _engine():  # type: ignore[no-untyped-def]
    return current_app.extensions["migrate"].db.engine


def _metadata():  # type: ignore[no-untyped-def]
    return current_app.extensions["migrate"].db.metadata


def run_migrations_offline() -> None:
    url = _engine().url.render_as_string(hide_password=False)
    context.configure(url=url, target_metadata=_metadata(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = _engine()
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=_metadata(),
            **current_app.extensions["migrate"].configure_args,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
