"""Sessions end when they should, over real HTTP against the live app: at logout, at a password
reset or role change (a copied cookie stops working too); a login starts a fresh session (no
CSRF token from before it is valid); and admin changes need the admin's password again."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import func, select

from tests.support.reviewer import ReviewerSession, csrf_from
from tests.support.server import PASSWORD, LiveServer, add_reviewer


@pytest.fixture
def people(server: LiveServer) -> LiveServer:
    add_reviewer(server.app, "alice")
    add_reviewer(server.app, "root", role="admin")
    return server


def copy_of(session: ReviewerSession) -> requests.Session:
    """What someone who copied the cookie has."""
    thief = requests.Session()
    thief.cookies.update(session.http.cookies)
    return thief


def logged_in(http: requests.Session, server: LiveServer) -> bool:
    response = http.get(f"{server.url}/requests", timeout=30)
    return response.ok and "/login" not in response.url


def user_id(server: LiveServer, username: str) -> int:
    from gate.server.extensions import db
    from gate.server.models import User

    with server.app.app_context():  # type: ignore[attr-defined]
        return db.session.scalar(select(User.id).where(User.username == username))


def test_logout_ends_the_session_and_every_copy(people: LiveServer) -> None:
    alice = people.reviewer("alice")
    other_device = people.reviewer("alice")
    thief = copy_of(alice)
    assert logged_in(thief, people)
    assert alice.post("/logout").ok
    assert not logged_in(thief, people), "a copied cookie outlived the logout"
    assert not logged_in(alice.http, people) and not logged_in(other_device.http, people)
    assert logged_in(people.reviewer("alice").http, people), "logging in again works"


def test_a_password_reset_ends_the_users_sessions(people: LiveServer) -> None:
    alice = people.reviewer("alice")
    thief = copy_of(alice)
    admin = people.reviewer("root")
    reset = admin.confirmed_post(
        f"/admin/users/{user_id(people, 'alice')}/password", {"password": "a brand new password"}
    )
    assert reset.ok and "Set a new password for alice" in reset.text
    assert not logged_in(alice.http, people) and not logged_in(thief, people)
    assert logged_in(admin.http, people), "the admin's own session is untouched"
    assert logged_in(people.reviewer("alice", "a brand new password").http, people)


def test_a_role_change_ends_the_users_sessions(people: LiveServer) -> None:
    from gate.server.extensions import db
    from gate.server.models import User

    root = people.reviewer("root")
    assert root.page("/admin/users").ok
    with people.app.app_context():  # type: ignore[attr-defined]
        db.session.get(User, user_id(people, "root")).role = "reviewer"
        db.session.commit()
    assert not logged_in(root.http, people)


def test_disabling_a_user_ends_their_sessions(people: LiveServer) -> None:
    alice = people.reviewer("alice")
    thief = copy_of(alice)
    admin = people.reviewer("root")
    assert admin.confirmed_post(f"/admin/users/{user_id(people, 'alice')}/active").ok
    assert admin.confirmed_post(f"/admin/users/{user_id(people, 'alice')}/active").ok  # again on
    assert not logged_in(thief, people), "re-enabling does not revive old sessions"


def test_a_csrf_token_from_before_login_is_refused_after_it(people: LiveServer) -> None:
    http = requests.Session()
    planted = csrf_from(http.get(f"{people.url}/login", timeout=30).text)
    response = http.post(
        f"{people.url}/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": planted},
        timeout=30,
    )
    assert "/login" not in response.url
    stale = http.post(f"{people.url}/logout", data={"csrf_token": planted}, timeout=30)
    assert stale.status_code == 400, "the token from before login still worked"
    assert logged_in(http, people)
    fresh = csrf_from(http.get(f"{people.url}/requests", timeout=30).text)
    assert fresh != planted


ADMIN_CHANGES = [
    (
        "/admin/users",
        {
            "username": "dave",
            "name": "Dave",
            "email": "d@example.com",
            "role": "admin",
            "password": "a long enough password",
        },
    ),
    ("/admin/users/{alice}/active", {}),
    ("/admin/users/{alice}/password", {"password": "a long enough password"}),
    ("/admin/tokens", {"kind": "hook", "host": "another-host", "repositories": "repo"}),
    ("/admin/tokens/1/revoke", {"confirm": "y"}),
    ("/admin/groups", {"name": "leads"}),
    ("/admin/guards", {"guard": "training", "groups": "{group}", "not_pushed_yet": "y"}),
    ("/admin/groups/{group}/members", {"g{group}-members": "{alice}"}),
    ("/admin/webhooks", {"url": "https://93.184.215.14/hook", "style": "json"}),
]


@pytest.mark.parametrize("wrong", ["", "not my password"])
@pytest.mark.parametrize(("path", "data"), ADMIN_CHANGES, ids=[p for p, _ in ADMIN_CHANGES])
def test_admin_changes_need_the_admins_password(
    people: LiveServer, path: str, data: dict[str, str], wrong: str
) -> None:
    from gate.server.database import command
    from gate.server.extensions import db
    from gate.server.models import AuditRecord
    from gate.server.services.accounts import create_hook_token
    from gate.server.services.actor import Actor
    from gate.server.services.groups import add_group

    with command(people.app):  # type: ignore[attr-defined]
        create_hook_token("first-host", ["repo"], actor=Actor.cli())
        group = add_group("ml-leads", actor=Actor.cli("root")).id
    admin = people.reviewer("root")
    names = {"alice": user_id(people, "alice"), "group": group}
    path = path.format(**names)
    data = {k.format(**names): v.format(**names) for k, v in data.items()}

    def records() -> int:
        with people.app.app_context():  # type: ignore[attr-defined]
            return db.session.scalar(select(func.count()).select_from(AuditRecord)) or 0

    before = records()
    refused = admin.post(path, {"current_password": wrong, **data})
    assert "Nothing was changed: enter your own password" in refused.text
    assert records() == before, "the change was made without the password"
    assert admin.confirmed_post(path, data).ok and records() > before
