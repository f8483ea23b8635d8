"""No browser input gives a 500, on SQLite or PostgreSQL: fuzzed form posts, query strings and
ids (NUL bytes, ids of 2^31 and more, odd Unicode, undecodable bytes), sent over real HTTP to
the live server as a logged-in admin and as an anonymous visitor."""

from __future__ import annotations

from urllib.parse import quote, quote_from_bytes

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.auditlog import commit_item, push
from tests.support.reviewer import ReviewerSession, csrf_from
from tests.support.server import PASSWORD, LiveServer, add_reviewer, new_token

# Text a browser can send (any code point but a lone surrogate), and the values that broke.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30) | st.sampled_from(
    ["\x00", "a\x00b", "2147483648", "99999999999999999999", "-1", "0", "²", "1e9", " 7 "]
)
IDS = st.sampled_from([0, 1, 2, 2**31 - 1, 2**31, 2**32, 2**63, 10**30]) | st.integers(0, 2**80)

# (method, path with {id}, form or query fields); every one reaches a view on a real route.
ROUTES = [
    ("GET", "/requests", ["state", "repository", "guard", "agent", "reviewer", "q", "page"]),
    ("GET", "/requests/{id}", []),
    (
        "POST",
        "/requests/{id}/decision",
        ["decision", "comment", "password", "attest", "shown_sha256"],
    ),
    ("POST", "/requests/{id}/withdraw", []),
    ("POST", "/requests/{id}/viewed", ["item", "path", "viewed", "page"]),
    ("POST", "/requests/{id}/comments", ["item", "path", "side", "line", "text", "page"]),
    ("POST", "/requests/{id}/comments/{id}/delete", ["page"]),
    ("GET", "/requests/{id}/context", ["item", "path", "hunk", "parent", "fragment", "view"]),
    ("POST", "/admin/tokens", ["name"]),
    ("POST", "/admin/tokens/{id}/revoke", []),
    ("POST", "/admin/users", ["username", "name", "email", "role", "password"]),
    ("POST", "/admin/groups", ["name"]),
    ("POST", "/admin/groups/{id}/members", ["g{id}-members"]),
    ("POST", "/admin/guards", ["guard", "groups"]),
    ("POST", "/admin/webhooks/{id}/active", []),
    ("POST", "/admin/pause/stop", ["stop-pause_id", "stop-password"]),
    (
        "POST",
        "/admin/pause/start",
        ["start-reason", "start-scope", "start-until", "start-password"],
    ),
    ("GET", "/metrics", ["since", "until", "week_by"]),
    ("GET", "/audit/checkpoints", ["before"]),
    ("GET", "/audit/checkpoints/{id}.note", []),
]
# Routes that would lock the admin out (disable, new password) get only ids of no user.
USER_ROUTES = ["/admin/users/{id}/active", "/admin/users/{id}/password"]


def admin_of(server: LiveServer) -> tuple[ReviewerSession, str]:
    """One logged-in admin per server (and its CSRF token), with a held request to act on."""
    if not hasattr(server, "fuzz_admin"):
        new_token(server.app)
        add_reviewer(server.app, "root", role="admin")
        push(server.app, [commit_item(1, "train")])
        admin = server.reviewer("root")
        server.fuzz_admin = (admin, csrf_from(admin.page("/admin/tokens").text))  # type: ignore[attr-defined]
    return server.fuzz_admin  # type: ignore[attr-defined,no-any-return]


def assert_answered(response: requests.Response, what: object) -> None:
    assert response.status_code < 500, (what, response.status_code, response.text[-1500:])


SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(data=st.data())
def test_fuzzed_forms_and_ids_never_give_a_500(server: LiveServer, data: st.DataObject) -> None:
    admin, csrf = admin_of(server)
    method, path, fields = data.draw(
        st.sampled_from(ROUTES + [("POST", route, ["password"]) for route in USER_ROUTES])
    )
    row = data.draw(st.sampled_from([2**31, 2**63, 0, 99_999]) if path in USER_ROUTES else IDS)
    values = {name.format(id=row): data.draw(TEXT) for name in fields}
    url = f"{server.url}{path.format(id=row)}"
    if method == "GET":
        response = admin.http.get(url, params=values)
    else:
        form = {"csrf_token": csrf, "current_password": PASSWORD, **values}
        response = admin.http.post(url, data=form)
    assert_answered(response, (method, path, row, values))
    assert "/login" not in response.url, "the admin's session must survive every example"


@SETTINGS
@given(
    username=TEXT,
    password=TEXT,
    raw_query=st.binary(max_size=20),
    header_name=st.sampled_from(["q", "next", "page", "before"]),
)
def test_fuzzed_anonymous_input_never_gives_a_500(
    server: LiveServer, username: str, password: str, raw_query: bytes, header_name: str
) -> None:
    visitor = requests.Session()
    page = visitor.get(f"{server.url}/login")
    login = visitor.post(
        f"{server.url}/login",
        data={"username": username, "password": password, "csrf_token": csrf_from(page.text)},
    )
    assert_answered(login, (username, password))
    # Undecodable bytes and NUL in a query string, percent-encoded as a client may send them.
    for path in ("/login", "/requests", "/audit/checkpoints", f"/requests/{quote('²')}"):
        odd = visitor.get(f"{server.url}{path}?{header_name}={quote_from_bytes(raw_query)}")
        assert_answered(odd, (path, raw_query))
