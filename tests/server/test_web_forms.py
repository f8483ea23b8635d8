"""Forged or CSRF-less form posts change nothing and get a clear page, not a traceback."""

from __future__ import annotations

import requests

from tests.support.gitrepo import CLAUDE_TRAILER
from tests.support.reviewer import csrf_from
from tests.support.server import PASSWORD, GatedRepo, LiveServer, request_id_from


def held_request(gated: GatedRepo) -> int:
    clone = gated.clone()
    clone.commit("seed", {"README.md": "x\n"})
    assert clone.push().ok
    clone.commit("agent", {"train/a.py": "a = 1\n"}, trailers=[CLAUDE_TRAILER])
    return request_id_from(clone.push().gate_lines)


def test_login_without_csrf_is_refused(server: LiveServer, gated: GatedRepo) -> None:
    response = requests.post(
        f"{server.url}/login", data={"username": "alice", "password": PASSWORD}, timeout=10
    )
    assert response.status_code == 400 and "Form expired or forged" in response.text


def test_wrong_password_does_not_log_in(server: LiveServer, gated: GatedRepo) -> None:
    session = requests.Session()
    page = session.get(f"{server.url}/login")
    response = session.post(
        f"{server.url}/login",
        data={"username": "alice", "password": "nope", "csrf_token": csrf_from(page.text)},
    )
    assert response.status_code == 400 and "Wrong username or password" in response.text
    assert "/login" in session.get(f"{server.url}/requests").url


def test_decision_without_csrf_changes_nothing(server: LiveServer, gated: GatedRepo) -> None:
    request_id = held_request(gated)
    alice = server.reviewer("alice")
    forged = alice.http.post(
        f"{server.url}/requests/{request_id}/decision", data={"decision": "approve", "comment": "x"}
    )
    assert forged.status_code == 400 and "Form expired or forged" in forged.text
    stolen = alice.http.post(
        f"{server.url}/requests/{request_id}/decision",
        data={"decision": "approve", "comment": "x", "csrf_token": "forged-token"},
    )
    assert stolen.status_code == 400
    assert ">pending<" in alice.page(f"/requests/{request_id}").text


def test_bad_decision_values_are_400(server: LiveServer, gated: GatedRepo) -> None:
    request_id = held_request(gated)
    alice = server.reviewer("alice")
    for decision in ("maybe", "", "approve' OR 1=1"):
        response = alice.decide(request_id, decision, "c")
        assert response.status_code == 400 and "not recorded" in response.text
    denial = alice.decide(request_id, "deny", "   ")
    assert denial.status_code == 400 and "needs a comment" in denial.text
    assert alice.page("/requests/424242").status_code == 404


def test_anonymous_users_are_sent_to_login(server: LiveServer, gated: GatedRepo) -> None:
    request_id = held_request(gated)
    response = requests.get(f"{server.url}/requests/{request_id}", timeout=10)
    assert "/login" in response.url
