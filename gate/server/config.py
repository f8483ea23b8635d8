"""Server settings, read from the environment (GATE_*) in one place."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

from gate.errors import GateError
from gate.server.models.base import read_stored_json
from gate.wire import MAX_BODY_BYTES

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def gate_home() -> Path:
    if home := os.environ.get("GATE_HOME"):
        return Path(home)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "gate"


def default_database_url() -> str:
    return f"sqlite:///{gate_home() / 'gate.db'}"


def config_from_env(environ: dict[str, str] | None = None) -> dict[str, Any]:
    env = os.environ if environ is None else environ
    public_url = env.get("GATE_PUBLIC_URL", "").rstrip("/")
    secure = env.get("GATE_COOKIE_SECURE", "").lower() in ("1", "true", "yes")
    secure = secure or public_url.startswith("https://")  # Secure cookies when served over HTTPS
    return {
        "SQLALCHEMY_DATABASE_URI": env.get("GATE_DATABASE_URL") or default_database_url(),
        "SECRET_KEY": env.get("GATE_SECRET_KEY"),
        "GATE_PUBLIC_URL": public_url,
        "SESSION_COOKIE_SECURE": secure,
        "REMEMBER_COOKIE_SECURE": secure,
        # Single sign-on behind a reverse proxy: off unless both are set.
        "GATE_SSO_HEADER": env.get("GATE_SSO_HEADER") or None,
        "GATE_SSO_TRUSTED_PROXIES": env.get("GATE_SSO_TRUSTED_PROXIES") or None,
        # Webhooks to loopback, private or link-local addresses: off unless set (a test rig).
        "GATE_WEBHOOK_ALLOW_PRIVATE": env.get("GATE_WEBHOOK_ALLOW_PRIVATE", "").lower()
        in ("1", "true", "yes"),
        # Networks webhooks may reach although internal (comma-separated CIDRs), the DNS
        # servers their names are resolved with (comma-separated ADDRESS[:PORT]; default: the
        # system's resolver) and the CA bundle their HTTPS certificates are checked against.
        "GATE_WEBHOOK_ALLOWED_NETWORKS": env.get("GATE_WEBHOOK_ALLOWED_NETWORKS") or None,
        "GATE_WEBHOOK_NAMESERVERS": env.get("GATE_WEBHOOK_NAMESERVERS") or None,
        "GATE_WEBHOOK_CA_BUNDLE": env.get("GATE_WEBHOOK_CA_BUNDLE") or None,
        **_audit_config(env),
        **_smtp_config(env),
    }


def _smtp_config(env: Any) -> dict[str, Any]:
    """GATE_SMTP_*: e-mail to reviewers (gate.server.services.mail); off without a host."""
    port = env.get("GATE_SMTP_PORT", "").strip()
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise GateError(f"GATE_SMTP_PORT must be a port number (1-65535), not {port!r}")
    return {
        "GATE_SMTP_HOST": env.get("GATE_SMTP_HOST", "").strip(),
        "GATE_SMTP_PORT": int(port) if port else 25,
        "GATE_SMTP_USER": env.get("GATE_SMTP_USER") or "",
        "GATE_SMTP_PASSWORD": env.get("GATE_SMTP_PASSWORD") or "",
        "GATE_SMTP_FROM": env.get("GATE_SMTP_FROM") or "gate@localhost",
        "GATE_SMTP_STARTTLS": env.get("GATE_SMTP_STARTTLS", "").lower() in ("1", "true", "yes"),
    }


def audit_key_dir(configured: str | None = None) -> Path:
    """Where the audit signing key lives: GATE_AUDIT_KEY_DIR, else $GATE_HOME/keys."""
    configured = configured or os.environ.get("GATE_AUDIT_KEY_DIR")
    return Path(configured) if configured else gate_home() / "keys"


def _audit_config(env: Any) -> dict[str, Any]:
    """GATE_AUDIT_* settings; numbers are validated here so a typo fails at start-up."""
    config: dict[str, Any] = {
        "GATE_AUDIT_KEY_DIR": env.get("GATE_AUDIT_KEY_DIR"),
        "GATE_AUDIT_ORIGIN": env.get("GATE_AUDIT_ORIGIN"),
    }
    for name in (
        "GATE_AUDIT_CHECKPOINT_SECONDS",
        "GATE_AUDIT_RETENTION_DAYS",
        "GATE_DIFF_RETENTION_DAYS",
        "GATE_HEARTBEAT_OVERDUE_SECONDS",
    ):
        raw = env.get(name)
        if raw is None:
            continue
        if not raw.strip().isdigit():
            raise GateError(f"{name} must be a whole number, not {raw!r}")
        config[name] = int(raw)
    return config


DEFAULTS: dict[str, Any] = {
    "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "json_deserializer": read_stored_json},
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "GATE_SSO_HEADER": "",
    "GATE_SSO_TRUSTED_PROXIES": "",
    "GATE_LOGIN_MAX_FAILURES": 5,  # per user name, within the window
    "GATE_LOGIN_MAX_FAILURES_PER_ADDRESS": 50,
    "GATE_LOGIN_WINDOW_SECONDS": 15 * 60,
    "GATE_WEBHOOK_ALLOW_PRIVATE": False,
    "GATE_WEBHOOK_ALLOWED_NETWORKS": (),
    "GATE_WEBHOOK_NAMESERVERS": (),
    "GATE_WEBHOOK_CA_BUNDLE": None,  # certifi's bundle (as requests uses), or REQUESTS_CA_BUNDLE
    "GATE_WEBHOOK_TIMEOUT_SECONDS": 5,
    "GATE_WEBHOOK_MAX_ATTEMPTS": 6,
    "GATE_WEBHOOK_BACKOFF_SECONDS": 30,  # doubled after each failed attempt
    "GATE_QUEUE_PAGE_SIZE": 50,
    "GATE_SMTP_HOST": "",  # e-mail to reviewers: off
    "GATE_SMTP_PORT": 25,
    "GATE_SMTP_FROM": "gate@localhost",
    "GATE_SMTP_STARTTLS": False,
    "WTF_CSRF_TIME_LIMIT": None,
    "MAX_CONTENT_LENGTH": MAX_BODY_BYTES,  # as sent; gate.wire caps each path decompressed
    "GATE_MAX_DIFF_BYTES": 4 * 1024 * 1024,
    "GATE_AUDIT_CHECKPOINT_SECONDS": 3600,  # the server signs a checkpoint at least this often
    "GATE_AUDIT_RETENTION_DAYS": 7 * 365 + 2,  # seven years: records and exports
    "GATE_DIFF_RETENTION_DAYS": 365,  # diff bodies of decided requests; their hashes stay
    # A guarded repository whose hooks sent nothing for this long raises an alert (pushes and
    # `gate doctor --report` from cron send heartbeats).
    "GATE_HEARTBEAT_OVERDUE_SECONDS": 26 * 3600,
}


def check_database_url(uri: str) -> None:
    """A URL SQLAlchemy can open: it parses, names a known database, and its driver is
    installed. Checked when the app is made, so a typo is one line, not a traceback."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    shown = f"GATE_DATABASE_URL {_without_password(uri)!r}"
    try:
        dialect = make_url(uri).get_dialect()
    except NoSuchModuleError:
        raise GateError(
            f"{shown} names a kind of database SQLAlchemy does not know: use postgresql+psycopg:// "
            "or sqlite:///"
        ) from None
    except ArgumentError:
        raise GateError(
            f"{shown} is not a database URL: give one such as "
            "postgresql+psycopg://gate@db.example.com/gate or sqlite:////var/lib/gate/gate.db"
        ) from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        extra = " (pip install 'gate[postgres]')" if dialect.name == "postgresql" else ""
        raise GateError(
            f"{shown} needs the Python driver {exc.name or dialect.driver!r}, which is not "
            f"installed{extra}"
        ) from None


def _without_password(uri: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(uri).render_as_string(hide_password=True)
    except ArgumentError:
        return uri


def parse_networks(value: Any) -> tuple[IPNetwork, ...]:
    """GATE_WEBHOOK_ALLOWED_NETWORKS: "10.20.0.0/16, 127.0.0.1/32, fd00::/8" (or a list)."""
    items = value.split(",") if isinstance(value, str) else list(value or ())
    networks = []
    for item in items:
        if isinstance(item, ipaddress.IPv4Network | ipaddress.IPv6Network):
            networks.append(item)
            continue
        if not str(item).strip():
            continue
        try:
            networks.append(ipaddress.ip_network(str(item).strip(), strict=False))
        except ValueError:
            raise GateError(
                f"GATE_WEBHOOK_ALLOWED_NETWORKS: {str(item).strip()!r} is not a network; give "
                "addresses or CIDR networks separated by commas, e.g. 10.20.0.0/16,127.0.0.1"
            ) from None
    return tuple(networks)


def parse_nameservers(value: Any) -> tuple[tuple[str, int], ...]:
    """GATE_WEBHOOK_NAMESERVERS: "10.0.0.53, 127.0.0.1:5353, [fd00::53]:53" (or a list)."""
    items = value.split(",") if isinstance(value, str) else list(value or ())
    servers = []
    for item in items:
        if isinstance(item, tuple):
            servers.append((str(item[0]), int(item[1])))
            continue
        text = str(item).strip()
        if not text:
            continue
        address, port = text, "53"
        if text.startswith("["):
            address, _, rest = text[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else ("53" if not rest else "x")
        elif text.count(":") == 1:
            address, port = text.split(":")
        try:
            ipaddress.ip_address(address)
            number = int(port)
            if not 0 < number < 65536:
                raise ValueError
        except ValueError:
            raise GateError(
                f"GATE_WEBHOOK_NAMESERVERS: {text!r} is not ADDRESS or ADDRESS:PORT; give the "
                "DNS servers' addresses separated by commas, e.g. 10.0.0.53,[fd00::53]:53"
            ) from None
        servers.append((address, number))
    return tuple(servers)


def check_config(config: dict[str, Any]) -> None:
    check_database_url(config["SQLALCHEMY_DATABASE_URI"])
    config["GATE_WEBHOOK_ALLOWED_NETWORKS"] = parse_networks(
        config.get("GATE_WEBHOOK_ALLOWED_NETWORKS")
    )
    config["GATE_WEBHOOK_NAMESERVERS"] = parse_nameservers(config.get("GATE_WEBHOOK_NAMESERVERS"))
    if not config.get("SECRET_KEY"):
        raise GateError(
            "GATE_SECRET_KEY is not set. Set it to a long random string, e.g.\n"
            "  export GATE_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
        )
