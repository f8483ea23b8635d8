"""Admin pages: reviewer accounts, API tokens (hook and agent read tokens), reviewer groups per guard, webhooks.

Every change here decides who can approve, what tokens exist or where events go, so each one
asks for the admin's own password again: a stolen or left-open session alone cannot make them.
"""

from __future__ import annotations

from functools import wraps
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from gate.server.extensions import db
from gate.server.models import WebhookDelivery
from gate.server.services import ServiceError, accounts, groups, notify, scopes
from gate.server.services.accounts import check_password
from gate.server.services.pauses import known_guards
from gate.server.web import refused, require_role, web_actor
from gate.server.web.forms import (
    ActionForm,
    AddUserForm,
    GroupForm,
    GuardGroupsForm,
    MembersForm,
    ResetPasswordForm,
    RevokeTokenForm,
    TokenForm,
    WebhookForm,
)

bp = Blueprint("admin", __name__, url_prefix="/admin")


admin_required = require_role("admin")


def fresh_password(page: str):  # type: ignore[no-untyped-def]
    """The admin's own password, in the form's ``current_password``, or nothing changes (and
    the admin is sent back to ``page``)."""

    def decorate(view):  # type: ignore[no-untyped-def]
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
            if not check_password(current_user, request.form.get("current_password", "")):
                flash(
                    "Nothing was changed: enter your own password to confirm the change.", "error"
                )
                return redirect(url_for(page))
            return view(*args, **kwargs)

        return wrapper

    return decorate


def _run(action, *args: Any, ok: str, **kwargs: Any) -> bool:  # type: ignore[no-untyped-def]
    """Call a service as the logged-in admin; flash its refusal (see refused) or ``ok``."""
    try:
        action(*args, actor=web_actor(), **kwargs)
    except ServiceError as exc:
        refused(exc)
        return False
    flash(ok, "ok")
    return True


def _invalid(form: Any) -> None:
    errors = "; ".join(
        f"{getattr(form, k).label.text}: {', '.join(v)}" for k, v in form.errors.items()
    )
    flash("Nothing was changed: " + (errors or "the form was incomplete."), "error")


# ---------------------------------------------------------------------------------- accounts


@bp.get("/users")
@admin_required
def users():  # type: ignore[no-untyped-def]
    return render_template(
        "admin/users.html",
        users=accounts.list_users(),
        add_form=AddUserForm(formdata=None),
        reset_form=ResetPasswordForm(formdata=None),
        action_form=ActionForm(),
    )


@bp.post("/users")
@admin_required
@fresh_password("admin.users")
def add_user():  # type: ignore[no-untyped-def]
    form = AddUserForm()
    if not form.validate_on_submit():
        _invalid(form)
    else:
        _run(
            accounts.add_user,
            form.username.data or "",
            form.name.data or "",
            form.email.data or "",
            form.password.data or "",
            form.role.data or "reviewer",
            ok=f"Added {form.username.data}.",
        )
    return redirect(url_for("admin.users"))


@bp.post("/users/<id:user_id>/active")
@admin_required
@fresh_password("admin.users")
def toggle_user(user_id: int):  # type: ignore[no-untyped-def]
    ActionForm().validate_on_submit() or abort(400)
    try:
        user = accounts.get_user(user_id)
    except ServiceError:
        abort(404)
    enable = not user.active
    _run(
        accounts.set_active,
        user,
        enable,
        ok=f"{'Enabled' if enable else 'Disabled'} {user.username}.",
    )
    return redirect(url_for("admin.users"))


@bp.post("/users/<id:user_id>/password")
@admin_required
@fresh_password("admin.users")
def reset_password(user_id: int):  # type: ignore[no-untyped-def]
    form = ResetPasswordForm()
    try:
        user = accounts.get_user(user_id)
    except ServiceError:
        abort(404)
    if not form.validate_on_submit():
        _invalid(form)
    else:
        _run(
            accounts.reset_password,
            user,
            form.password.data or "",
            ok=f"Set a new password for {user.username}.",
        )
    return redirect(url_for("admin.users"))


# ------------------------------------------------------------------------------------ tokens


def _token_page(secret: str | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    form = TokenForm(formdata=None)
    form.agent.choices = _agent_choices()
    return render_template(
        "admin/tokens.html",
        tokens=accounts.list_tokens(),
        describe=scopes.describe,
        form=form,
        revoke_form=RevokeTokenForm(formdata=None),
        secret=secret,
    ), status


def _agent_choices() -> list[SelectChoice]:
    return [
        SelectChoice(u.username, f"{u.username} (operated by {u.operator.username})")
        for u in accounts.list_users()
        if u.is_agent and u.active and u.operator is not None
    ]


@bp.get("/tokens")
@admin_required
def tokens():  # type: ignore[no-untyped-def]
    return _token_page()


@bp.post("/tokens")
@admin_required
@fresh_password("admin.tokens")
def create_token():  # type: ignore[no-untyped-def]
    form = TokenForm()
    form.agent.choices = _agent_choices()
    secret = None
    if not form.validate_on_submit():
        _invalid(form)
        return _token_page(status=400)
    try:
        if form.kind.data == "agent-read":
            _, secret = accounts.create_agent_token(
                form.agent.data or "", name=form.name.data or None, actor=web_actor()
            )
        else:
            _, secret = accounts.create_hook_token(
                form.host.data or "",
                (form.repositories.data or "").splitlines(),
                all_repositories=bool(form.all_repositories.data),
                name=form.name.data or None,
                actor=web_actor(),
            )
    except ServiceError as exc:
        refused(exc)
        return _token_page(status=400)
    return _token_page(secret)


@bp.post("/tokens/<id:token_id>/revoke")
@admin_required
@fresh_password("admin.tokens")
def revoke_token(token_id: int):  # type: ignore[no-untyped-def]
    form = RevokeTokenForm()
    if not form.validate_on_submit():
        _invalid(form)
        return redirect(url_for("admin.tokens"))
    _run(
        accounts.revoke_token,
        token_id,
        ok=f"Revoked token {token_id}; whatever uses it is refused from now on.",
    )
    return redirect(url_for("admin.tokens"))


# ------------------------------------------------------------------------------------ groups


@bp.get("/groups")
@admin_required
def group_list():  # type: ignore[no-untyped-def]
    all_groups = groups.list_groups()
    users = [u for u in accounts.list_users() if u.role in ("reviewer", "admin")]
    members_forms = {}
    for group in all_groups:
        form = MembersForm(formdata=None, prefix=f"g{group.id}")
        form.members.choices = [SelectChoice(u.id, f"{u.name} ({u.username})") for u in users]
        form.members.data = [u.id for u in group.members]
        members_forms[group.id] = form
    guard_form = GuardGroupsForm(formdata=None)
    guard_form.groups.choices = [SelectChoice(g.id, g.name) for g in all_groups]
    return render_template(
        "admin/groups.html",
        groups=all_groups,
        rules=groups.guard_rules(),
        known_guards=known_guards(),
        add_form=GroupForm(formdata=None),
        members_forms=members_forms,
        guard_form=guard_form,
    )


@bp.post("/groups")
@admin_required
@fresh_password("admin.group_list")
def add_group():  # type: ignore[no-untyped-def]
    form = GroupForm()
    if not form.validate_on_submit():
        _invalid(form)
    else:
        _run(
            groups.add_group,
            form.name.data or "",
            ok=f"Added group {form.name.data}.",
        )
    return redirect(url_for("admin.group_list"))


@bp.post("/groups/<id:group_id>/members")
@admin_required
@fresh_password("admin.group_list")
def set_members(group_id: int):  # type: ignore[no-untyped-def]
    form = MembersForm(prefix=f"g{group_id}")
    form.members.choices = [SelectChoice(u.id, u.username) for u in accounts.list_users()]
    if not form.validate_on_submit():
        _invalid(form)
    else:
        _run(
            groups.set_members,
            group_id,
            list(form.members.data or []),
            ok="Saved the group's members.",
        )
    return redirect(url_for("admin.group_list"))


@bp.post("/guards")
@admin_required
@fresh_password("admin.group_list")
def set_guard_groups():  # type: ignore[no-untyped-def]
    form = GuardGroupsForm()
    form.groups.choices = [SelectChoice(g.id, g.name) for g in groups.list_groups()]
    if not form.validate_on_submit():
        _invalid(form)
    else:
        _run(
            groups.set_guard_groups,
            form.guard.data or "",
            list(form.groups.data or []),
            not_pushed_yet=bool(form.not_pushed_yet.data),
            ok=f"Saved who may approve guard {form.guard.data}.",
        )
    return redirect(url_for("admin.group_list"))


# ---------------------------------------------------------------------------------- webhooks


def _webhook_page(secret: str | None = None):  # type: ignore[no-untyped-def]
    from gate.server.models import Webhook

    form = WebhookForm(formdata=None)
    form.events.choices = [SelectChoice(e, e) for e in notify.EVENTS]
    deliveries = db.session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.state != "delivered")
        .order_by(WebhookDelivery.id.desc())
        .limit(200)
    ).all()
    return render_template(
        "admin/webhooks.html",
        webhooks=db.session.scalars(select(Webhook).order_by(Webhook.id)).all(),
        deliveries=deliveries,
        form=form,
        action_form=ActionForm(),
        secret=secret,
    )


@bp.get("/webhooks")
@admin_required
def webhooks():  # type: ignore[no-untyped-def]
    return _webhook_page()


@bp.post("/webhooks")
@admin_required
@fresh_password("admin.webhooks")
def add_webhook():  # type: ignore[no-untyped-def]
    form = WebhookForm()
    form.events.choices = [SelectChoice(e, e) for e in notify.EVENTS]
    secret = None
    if not form.validate_on_submit():
        _invalid(form)
    else:
        try:
            _, secret = notify.add_webhook(
                form.url.data or "",
                form.style.data or "json",
                list(form.events.data or []),
                actor=web_actor(),
            )
        except ServiceError as exc:
            refused(exc)
    return _webhook_page(secret)


@bp.post("/webhooks/<id:webhook_id>/active")
@admin_required
@fresh_password("admin.webhooks")
def toggle_webhook(webhook_id: int):  # type: ignore[no-untyped-def]
    from gate.server.models import Webhook

    ActionForm().validate_on_submit() or abort(400)
    hook = db.session.get(Webhook, webhook_id)
    if hook is None:
        abort(404)
    _run(
        notify.set_webhook_active,
        webhook_id,
        not hook.active,
        ok="Saved.",
    )
    return redirect(url_for("admin.webhooks"))


@bp.post("/webhooks/<id:webhook_id>/test")
@admin_required
@fresh_password("admin.webhooks")
def test_webhook(webhook_id: int):  # type: ignore[no-untyped-def]
    ActionForm().validate_on_submit() or abort(400)
    _run(
        notify.send_test,
        webhook_id,
        ok=f"A test delivery to webhook {webhook_id} is queued; its result shows below.",
    )
    return redirect(url_for("admin.webhooks"))


@bp.post("/webhooks/deliveries/<id:delivery_id>/retry")
@admin_required
@fresh_password("admin.webhooks")
def retry_delivery(delivery_id: int):  # type: ignore[no-untyped-def]
    ActionForm().validate_on_submit() or abort(400)
    _run(notify.retry_now, delivery_id, ok=f"Delivery {delivery_id} is being sent again now.")
    return redirect(url_for("admin.webhooks"))
