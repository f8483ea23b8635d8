"""Login and logout for reviewers, and optional single sign-on from a trusted reverse proxy."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from gate.server.extensions import db, login_manager
from gate.server.models import User
from gate.server.models.base import max_length
from gate.server.services.accounts import Throttled, authenticate, user_for_sso
from gate.server.web.forms import LoginForm

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """The user a session names, while the session is current: "<id>.<version>" (see
    User.get_id); a logout, password reset or role change raises the version, so every older
    session (and a copied cookie) stops working on its next request."""
    user_id, _, version = session_id.partition(".")
    if not user_id.isdigit() or not version.isdigit():
        return None  # includes sessions from before versions existed
    user = db.session.get(User, int(user_id))
    if user is None or user.session_version != int(version) or user.is_agent:
        return None
    return user


def _start_session(user: User, method: str) -> None:
    """A fresh session for a login: nothing carried over from before it, so a CSRF token (or
    anything else) planted before login is not valid after it."""
    session.clear()
    login_user(user)
    session["gate_login"] = method


def _safe_next(target: str | None) -> str:
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and not urlsplit(target).netloc
    ):
        return target
    return url_for("review.queue")


def trusted_proxy(address: str | None, proxies: str) -> bool:
    """Whether ``address`` is one of the comma-separated addresses or networks in ``proxies``."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in proxies.split(","):
        entry = entry.strip()
        if not entry:
            continue
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


@bp.before_app_request
def _single_sign_on() -> None:
    """Log in the user named by the SSO header, but only when it comes from a trusted proxy.

    Off unless GATE_SSO_HEADER and GATE_SSO_TRUSTED_PROXIES are both set. From any other
    address the header is ignored, so a client cannot name itself.
    """
    header = current_app.config.get("GATE_SSO_HEADER")
    proxies = current_app.config.get("GATE_SSO_TRUSTED_PROXIES")
    if not header or not proxies or (request.blueprint or "") == "api":
        return
    value = request.headers.get(header, "")
    if not value or "\x00" in value or not trusted_proxy(request.remote_addr, proxies):
        return
    user = user_for_sso(value[: max_length(User.email)])
    if user is None or (current_user.is_authenticated and current_user.id == user.id):
        return
    _start_session(user, "sso-header")


@bp.route("/login", methods=["GET", "POST"])
def login():  # type: ignore[no-untyped-def]
    if current_user.is_authenticated:
        return redirect(url_for("review.queue"))
    form = LoginForm()
    status = 400 if request.method == "POST" else 200
    if form.validate_on_submit():
        try:
            user = authenticate(
                form.username.data or "", form.password.data or "", request.remote_addr
            )
        except Throttled as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return render_template("auth/login.html", form=form), 429
        if user is not None:
            _start_session(user, "password")
            return redirect(_safe_next(request.args.get("next")))
        flash("Wrong username or password, or the account is disabled.", "error")
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():  # type: ignore[no-untyped-def]
    """Ends this user's sessions everywhere: the cookie is only a signed copy of the session, so
    only the version kept in the database can make a copy of it stop working."""
    user = db.session.get(User, current_user.id)
    if user is not None:
        user.end_sessions()
        db.session.commit()
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))
