"""Kept for servers started as ``gunicorn 'gate.app:create_app()'``; the factory lives in
gate.server.app."""

from gate.server.app import create_app

__all__ = ["create_app"]
