"""Approvals that need a security key, over real HTTP against the live server, after a real
push: a post without a valid assertion is refused and records nothing, each challenge answers
once, the statement binds the comment, the counter must go up, and only the reviewer's own
enrolled (not removed) key signs. The assertions come from tests/support/authenticator.py
(the browser test, tests/e2e/test_webauthn.py, uses Chromium's virtual authenticator)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_webauthn import POLICY
from tests.support.audit import audit_records
from tests.support.authenticator import ES256, SoftAuthenticator
from tests.support.gitrepo import CLAUDE_TRAILER
from tests.support.reviewer import ReviewerSession, csrf_from
from tests.support.server import (
    LiveServer,
    add_reviewer,
    make_gated_repo,
    new_token,
    request_id_from,
)

pytestmark = pytest.mark.e2e
_SHOWN = re.compile(r'name="shown_sha256"[^>]*value="([0-9a-f]{64})"')


def challenge_of(options: dict[str, Any]) -> bytes:
    text = options["challenge"]
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def enrol(reviewer: ReviewerSession, key: SoftAuthenticator) -> str:
    page = reviewer.page("/account")
    token = csrf_from(page.text)
    options = reviewer.http.post(
        f"{reviewer.base}/account/webauthn/options", data={"csrf_token": token}
    )
    assert options.ok, options.text
    answer = reviewer.http.post(
        f"{reviewer.base}/account/webauthn",
        data={
            "csrf_token": token,
            "name": "soft key",
            "response": key.registration(challenge_of(options.json())),
        },
    )
    return answer.text


def begin(
    reviewer: ReviewerSession, request_id: int, comment: str
) -> tuple[dict[str, Any], str, str]:
    """Start a signed approval: (options, the page's CSRF token, its shown SHA-256)."""
    page = reviewer.page(f"/requests/{request_id}")
    token = csrf_from(page.text)
    shown = _SHOWN.search(page.text)
    assert shown
    started = reviewer.http.post(
        f"{reviewer.base}/requests/{request_id}/webauthn/options",
        data={"csrf_token": token, "comment": comment},
    )
    assert started.ok, started.text
    return started.json()["options"], token, shown.group(1)


def post_decision(
    reviewer: ReviewerSession, request_id: int, token: str, shown: str, comment: str, response: str
):  # type: ignore[no-untyped-def]
    return reviewer.http.post(
        f"{reviewer.base}/requests/{request_id}/decision",
        data={
            "csrf_token": token,
            "decision": "approve",
            "comment": comment,
            "attest": "yes",
            "shown_sha256": shown,
            "webauthn_response": response,
            "password": reviewer.password,
        },
        allow_redirects=False,
    )


def approvals(app) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    return [r for r in audit_records(app) if r["action"] == "decision.approve"]


@pytest.fixture
def held(server: LiveServer, tmp_path: Path) -> dict[str, Any]:
    app = server.app
    for name in ("alice", "bob"):
        add_reviewer(app, name)
    gated = make_gated_repo(tmp_path / "git", server.url, new_token(app), policy=POLICY)
    clone = gated.clone()
    clone.commit("initial", {"model/net.py": "layers = 1\n"})
    assert clone.push().ok
    clone.commit("Widen", {"model/net.py": "layers = 2\n"}, trailers=[CLAUDE_TRAILER])
    pushed = clone.push()
    assert not pushed.ok
    base = server.url.replace("127.0.0.1", "localhost")
    alice = ReviewerSession(base)
    assert alice.login("alice", "correct horse battery staple").ok
    port = base.rsplit(":", 1)[1]
    key = SoftAuthenticator(b"alice", "localhost", f"http://localhost:{port}", algorithm=ES256)
    return {"request": request_id_from(pushed.gate_lines), "alice": alice, "key": key, "base": base}


def test_forged_replayed_and_mismatched_approvals_are_refused(server: LiveServer, held) -> None:  # type: ignore[no-untyped-def]
    app, request_id, alice, key = server.app, held["request"], held["alice"], held["key"]

    # Without a key enrolled, the ceremony does not even start.
    page = alice.page(f"/requests/{request_id}")
    refused = alice.http.post(
        f"{alice.base}/requests/{request_id}/webauthn/options",
        data={"csrf_token": csrf_from(page.text), "comment": "ok"},
    )
    assert (
        refused.status_code == 403 and "enrol one on your account page" in refused.json()["error"]
    )
    key.counter = 5  # the authenticator keeps a counter: it has signed 5 times
    assert "is enrolled" in enrol(alice, key)

    # The password form of old, with no assertion: refused, nothing recorded.
    forged = alice.decide(request_id, "approve", "looks fine")
    assert forged.status_code == 403 and "no security-key ceremony is under way" in forged.text
    assert approvals(app) == []

    # The statement binds the comment: an assertion over "ok" cannot approve with another.
    options, token, shown = begin(alice, request_id, "ok")
    answer = post_decision(
        alice, request_id, token, shown, "ok, and more", key.assertion(challenge_of(options))
    )
    assert answer.status_code == 403 and "(comment changed)" in answer.text

    # A wrong origin is refused by the library, and that challenge is then gone: the same
    # challenge answered again (correctly this time) finds no ceremony.
    options, token, shown = begin(alice, request_id, "ok")
    wrong = key.assertion(challenge_of(options), origin="http://evil.example")
    answer = post_decision(alice, request_id, token, shown, "ok", wrong)
    assert answer.status_code == 403 and "Unexpected client data origin" in answer.text
    replayed = alice.http.post(
        f"{alice.base}/requests/{request_id}/decision",
        data={
            "csrf_token": token,
            "decision": "approve",
            "comment": "ok",
            "attest": "yes",
            "shown_sha256": shown,
            "webauthn_response": key.assertion(challenge_of(options)),
        },
    )
    assert replayed.status_code == 403 and "no security-key ceremony is under way" in replayed.text

    # A key alice never enrolled.
    stranger = SoftAuthenticator(b"mallory", key.rp_id, key.origin)
    options, token, shown = begin(alice, request_id, "ok")
    answer = post_decision(
        alice, request_id, token, shown, "ok", stranger.assertion(challenge_of(options))
    )
    assert answer.status_code == 403 and "not one enrolled" in answer.text

    # A cloned key whose counter went back below the one enrolled.
    key.counter = 0
    options, token, shown = begin(alice, request_id, "ok")
    answer = post_decision(
        alice, request_id, token, shown, "ok", key.assertion(challenge_of(options))
    )
    assert answer.status_code == 403 and "sign count" in answer.text
    assert approvals(app) == []

    # The real thing: recorded, with the statement and the assertion in the audit record.
    key.counter = 10
    options, token, shown = begin(alice, request_id, "Width change is fine.")
    answer = post_decision(
        alice,
        request_id,
        token,
        shown,
        "Width change is fine.",
        key.assertion(challenge_of(options)),
    )
    assert answer.status_code == 302, answer.text
    (record,) = approvals(app)
    assert record["actor_auth"] == "session-password+step-up-webauthn"
    proof = record["subject"]["webauthn"]
    assert proof["credential_id"] == key.id and proof["sign_count"] == 11
    statement = proof["statement"]
    assert statement["request"] == request_id and statement["comment"] == "Width change is fine."
    assert statement["keys"] == record["subject"]["keys"] and statement["reviewer"] == "alice"
    client = json.loads(base64.urlsafe_b64decode(proof["client_data_json"] + "=="))
    assert client["origin"] == key.origin
    (enrolled,) = [r for r in audit_records(app) if r["action"] == "webauthn.enrolled"]
    assert enrolled["subject"]["public_key"] == key.spki_pem()
    assert enrolled["subject"]["algorithm"] == ES256


def test_a_removed_key_signs_no_more(server: LiveServer, held) -> None:  # type: ignore[no-untyped-def]
    alice, key, request_id = held["alice"], held["key"], held["request"]
    enrol(alice, key)
    page = alice.page("/account")
    credential = re.search(r'action="/account/webauthn/(\d+)/remove"', page.text)
    assert credential
    removed = alice.http.post(
        f"{alice.base}/account/webauthn/{credential.group(1)}/remove",
        data={"csrf_token": csrf_from(page.text)},
    )
    assert "no longer signs approvals" in removed.text
    records = [r["action"] for r in audit_records(server.app)]
    assert records.count("webauthn.enrolled") == 1 and records.count("webauthn.revoked") == 1
    page = alice.page(f"/requests/{request_id}")
    refused = alice.http.post(
        f"{alice.base}/requests/{request_id}/webauthn/options",
        data={"csrf_token": csrf_from(page.text), "comment": "ok"},
    )
    assert refused.status_code == 403
