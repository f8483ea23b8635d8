"""The Flask application factory."""

from __future__ import annotations

from typing import Any

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import SQLAlchemyError

from gate import wire
from gate.resources import resource_dir
from gate.server import api, web
from gate.server.config import DEFAULTS, check_config, config_from_env
from gate.server.database import DatabaseUnavailable, database_unavailable, require_schema
from gate.server.extensions import csrf, db, login_manager, migrate
from gate.server.services import delivery
from gate.server.web import account, admin, audit, auth, health, metrics, pause, reading, review


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Defaults, then the environment (GATE_*), then overrides (tests). Creates no data."""
    app = Flask("gate", template_folder=str(resource_dir("templates")))
    app.config.update(DEFAULTS)
    app.config.update({k: v for k, v in config_from_env().items() if v is not None})
    app.config.update(overrides or {})
    check_config(app.config)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(resource_dir("migrations")))
    csrf.init_app(app)
    login_manager.init_app(app)

    _serve_only_with_schema(app)  # first, before anything that reads the database
    delivery.init_app(app)
    web.init_app(app)  # each request's one commit
    app.register_blueprint(auth.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(review.bp)
    app.register_blueprint(reading.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(pause.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(audit.bp)
    app.register_blueprint(health.bp)
    csrf.exempt(api.bp)  # the API authenticates with bearer tokens, never cookies
    # Pages link static/favicon.svg; browsers and tools that ask for /favicon.ico anyway get it.
    app.add_url_rule(
        "/favicon.ico", "favicon", lambda: app.send_static_file("favicon.svg"), methods=["GET"]
    )

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError):  # type: ignore[no-untyped-def]
        return render_template(
            "error.html", title="Form expired or forged", message=exc.description
        ), 400

    @app.errorhandler(403)
    def _forbidden(exc: Exception):  # type: ignore[no-untyped-def]
        return render_template(
            "error.html", title="Not allowed", message="Your account cannot use this page."
        ), 403

    @app.errorhandler(400)
    def _bad_request(exc: Exception):  # type: ignore[no-untyped-def]
        return render_template(
            "error.html", title="Bad request", message="The form was incomplete or not valid."
        ), 400

    @app.errorhandler(404)
    def _not_found(exc: Exception):  # type: ignore[no-untyped-def]
        if request.path.startswith(wire.API_PREFIX):  # no route matched: still the API's shape
            return api.error("not_found", f"there is nothing at {request.path[:200]}", 404)
        return render_template(
            "error.html", title="Not found", message="There is nothing here."
        ), 404

    @app.errorhandler(SQLAlchemyError)
    def _database_error(exc: SQLAlchemyError):  # type: ignore[no-untyped-def]
        db.session.rollback()
        reason = database_unavailable(exc)
        if reason is None:
            raise exc
        try:  # the page itself may need the database (the logged-in user): plain text then
            return render_template("error.html", title="Database unavailable", message=reason), 503
        except SQLAlchemyError:
            db.session.rollback()
            return reason, 503, {"Content-Type": "text/plain; charset=utf-8"}

    @app.errorhandler(DatabaseUnavailable)
    def _unavailable(exc: DatabaseUnavailable):  # type: ignore[no-untyped-def]
        db.session.rollback()
        app.logger.error("gate: %s", exc)
        if request.path.startswith(wire.API_PREFIX):
            return api.error("database_unavailable", str(exc), 503)
        return render_template("unavailable.html", message=str(exc)), 503

    @app.after_request
    def _security_headers(response):  # type: ignore[no-untyped-def]
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
        )
        return response

    return app


def _serve_only_with_schema(app: Flask) -> None:
    """Until the database is reachable and at this gate's schema, every request is answered
    503 with the one paragraph that says why (under gunicorn too, where nothing checks it
    before the first request); once it is, the check is not made again."""
    ready = False

    @app.before_request
    def _schema_ready() -> None:
        nonlocal ready
        if not ready:
            require_schema(app)
            ready = True
