"""gate db upgrade: bring the database schema to the newest migration."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask_migrate import upgrade

from gate.resources import resource_dir


def upgrade_database(app: Flask) -> None:
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:///:memory:"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    with app.app_context():
        upgrade(directory=str(resource_dir("migrations")))
