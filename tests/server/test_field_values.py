"""Issue 15 #8, one test per field, over real HTTP to the live server, on SQLite and (with
GATE_TEST_DATABASE_URL) PostgreSQL, where each of these once gave a 500: NUL in a login name
(before authentication), a commit message, a search query, a comment and a token name; ids of
2^31 and more in every route that takes one; a commit author's name over 300 characters sent
by the API; JSON nested deeper than gate reads. (Wrong-typed and deeply nested stored diffs:
tests/server/test_stored_rows.py; a long identity through a real push:
tests/e2e/test_odd_input.py.) Each answer is a clear refusal or a page that renders, never a
500, and what was stored renders afterwards."""

from __future__ import annotations

import pytest
import requests

from gate import wire
from tests.support.objects import root_commit
from tests.support.reviewer import csrf_from
from tests.support.server import PASSWORD, LiveServer, add_reviewer, new_token

BIG_IDS = [2**31 - 1, 2**31, 2**32, 2**63, 10**30]


@pytest.fixture
def token(server: LiveServer) -> str:
    add_reviewer(server.app, "alice")
    add_reviewer(server.app, "root", role="admin")
    return new_token(server.app)


def hold(server: LiveServer, token: str, author: str, message: str) -> requests.Response:
    sha, objects = root_commit({"train/a.py": b"x = 1\n"}, author, message)
    item = wire.commit_item(
        sha,
        objects,
        [{"kind": "email", "evidence": "bot@bots.example.com"}],
        {"training": ["train/a.py"]},
    )
    body = {
        "repository": "r",
        "ref": "refs/heads/main",
        "old": "0" * 40,
        "new": sha,
        "pusher": "agent-bot",
        "policy": {"sha256": "b" * 64, "approvals": {"training": 1}},
        "items": [item],
    }
    return requests.post(
        f"{server.url}{wire.HOLDS_PATH}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )


def held_request(server: LiveServer, token: str, author: str, message: str) -> int:
    response = hold(server, token, author, message)
    assert response.status_code == 200, response.text
    return int(response.json()["items"][0]["request_id"])


def test_nul_in_a_login_name_is_a_failed_login(server: LiveServer, token: str) -> None:
    visitor = requests.Session()
    page = visitor.get(f"{server.url}/login")
    for username in ("ali\x00ce", "\x00", "alice\x00"):
        response = visitor.post(
            f"{server.url}/login",
            data={"username": username, "password": PASSWORD, "csrf_token": csrf_from(page.text)},
        )
        assert response.status_code in (200, 400), (username, response.status_code)
        assert "Log out" not in response.text and "Traceback" not in response.text
    assert server.reviewer("alice").page("/requests").status_code == 200, "alice still logs in"


def test_nul_in_a_commit_message_is_held_and_shown(server: LiveServer, token: str) -> None:
    request_id = held_request(
        server, token, "Bot <bot@bots.example.com>", "fix\x00 the loop\n\nbody\x00\n"
    )
    alice = server.reviewer("alice")
    page = alice.page(f"/requests/{request_id}")
    assert page.status_code == 200 and "\x00" not in page.text, page.text[-3000:]
    assert "fix" in page.text and "the loop" not in page.text, "cut at the NUL, as git log shows it"
    assert alice.decide(request_id, "approve", "fine").status_code == 200


def test_an_author_name_over_300_characters_is_held_and_decided(
    server: LiveServer, token: str
) -> None:
    request_id = held_request(server, token, "N" * 5000 + " <bot@bots.example.com>", "long\n")
    alice = server.reviewer("alice")
    page = alice.page(f"/requests/{request_id}")
    assert page.status_code == 200 and "N" * 299 in page.text
    assert alice.decide(request_id, "approve", "fine").status_code == 200
    assert alice.page("/requests?q=" + "N" * 400).status_code == 200


@pytest.mark.parametrize("query", ["a\x00b", "\x00", "%00", "N" * 3000 + "\x00"])
def test_nul_in_a_search_query_answers(server: LiveServer, token: str, query: str) -> None:
    held_request(server, token, "Bot <bot@bots.example.com>", "m\n")
    alice = server.reviewer("alice")
    for field in ("q", "repository", "guard", "agent", "reviewer", "state"):
        response = alice.http.get(f"{server.url}/requests", params={field: query})
        assert response.status_code in (200, 400), (field, response.status_code)


def test_nul_in_a_comment_is_refused_or_kept_readable(server: LiveServer, token: str) -> None:
    request_id = held_request(server, token, "Bot <bot@bots.example.com>", "m\n")
    alice = server.reviewer("alice")
    response = alice.decide(request_id, "deny", "no\x00 way")
    assert response.status_code in (200, 400), response.status_code
    page = alice.page(f"/requests/{request_id}")
    assert page.status_code == 200 and "\x00" not in page.text
    approved = alice.decide(request_id, "approve", "fine\x00")
    assert approved.status_code in (200, 400, 409), approved.status_code


def test_nul_in_a_token_name_is_a_clear_error(server: LiveServer, token: str) -> None:
    admin = server.reviewer("root")
    for name in ("ci\x00host", "\x00"):
        response = admin.confirmed_post("/admin/tokens", {"name": name})
        assert response.status_code in (200, 400), (name, response.status_code)
        assert "\x00" not in response.text
    assert admin.page("/admin/tokens").status_code == 200


@pytest.mark.parametrize("row", BIG_IDS)
def test_ids_of_2_31_and_more_are_not_found(server: LiveServer, token: str, row: int) -> None:
    admin = server.reviewer("root")
    csrf = csrf_from(admin.page("/admin/tokens").text)
    for path in (
        f"/requests/{row}",
        f"/audit/checkpoints/{row}.note",
        f"/audit/checkpoints?before={row}",
    ):
        response = admin.page(path)
        assert response.status_code in (200, 400, 404), (path, response.status_code)
    for path in (
        f"/requests/{row}/decision",
        f"/requests/{row}/withdraw",
        f"/admin/tokens/{row}/revoke",
        f"/admin/webhooks/{row}/active",
        f"/admin/users/{row}/active",
    ):
        response = admin.http.post(
            f"{server.url}{path}",
            data={"csrf_token": csrf, "current_password": PASSWORD, "decision": "deny"},
        )
        assert response.status_code in (200, 400, 404), (path, response.status_code)
        assert "Traceback" not in response.text
    api = requests.get(
        f"{server.url}{wire.request_path(row)}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert api.status_code in (403, 404) and api.json()["error"]["code"]


def test_json_nested_deeper_than_gate_reads_is_a_400(server: LiveServer, token: str) -> None:
    for depth in (wire.MAX_DEPTH + 1, 100_000):
        body = '{"repository": ' + "[" * depth + "]" * depth + "}"
        for path in (wire.HOLDS_PATH, wire.PUSHES_PATH, wire.HEARTBEATS_PATH, wire.RECONCILE_PATH):
            response = requests.post(
                f"{server.url}{path}",
                data=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                timeout=60,
            )
            assert response.status_code == 400, (path, depth, response.status_code)
            assert "nests deeper" in response.json()["error"]["message"]
