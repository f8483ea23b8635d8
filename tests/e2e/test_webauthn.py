"""Approvals signed by security keys, in real Chromium with its virtual authenticator (the
DevTools protocol's WebAuthn domain: CTAP2, internal transport, user verification).

Two reviewers enrol a key on their account page, approve a request held from a real push to a
guard with ``approval = "webauthn"``, and the push goes through. The exported bundle verifies
offline; then the bundle is rewritten by someone holding the server's audit key (chain
re-hashed, checkpoints, attestations and manifest re-signed), and a tampered statement, a
swapped credential and a replayed assertion each fail with their own message: what the audit
key alone cannot forge.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

from gate.audit.verify import public_key_raw, verify_bundle
from tests.e2e.test_browser import AGENT, DESKTOP, shoot
from tests.support.cli import run_gate
from tests.support.gitrepo import remote_ref
from tests.support.insider import Records, rewrite_bundle
from tests.support.reading import tick_every_file
from tests.support.server import (
    PASSWORD,
    LiveServer,
    add_reviewer,
    make_gated_repo,
    new_token,
    request_id_from,
)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

POLICY = """\
protected_refs = ["refs/heads/main"]

[[guard]]
name = "model"
paths = ["model/**"]
approvals = 2
approval = "webauthn"

[agents]
emails = ["*@bots.example.com"]
"""


def reviewer_with_key(browser, base: str, username: str):  # type: ignore[no-untyped-def]
    """A logged-in page whose tab has a virtual CTAP2 authenticator, with a key enrolled."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": False,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Approval requests").wait_for()
    page.get_by_role("link", name=re.compile(rf"{username.title()} Reviewer")).click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.get_by_text("You have no security key enrolled.")).to_be_visible()
    page.get_by_label("Name of the key (for you)").fill(f"{username}'s key")
    page.get_by_role("button", name="Enrol a security key").click()
    expect(page.get_by_role("status").filter(has_text="is enrolled")).to_be_visible()
    expect(page.get_by_text(f"{username}'s key", exact=True)).to_be_visible()
    shoot(page, f"account-{username}")
    return context, page


def approve_with_key(page, base: str, request_id: int, comment: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.goto(f"{base}/requests/{request_id}")
    expect(page.get_by_text("Approving needs your security key")).to_be_visible()
    expect(page.get_by_label("Your password (needed to approve)")).to_have_count(0)
    tick_every_file(page, guarded_only=True)
    page.get_by_role("radio", name="Approve").check()
    page.get_by_label("Comment", exact=True).fill(comment)
    page.get_by_role("checkbox", name=re.compile(r"I reviewed commit")).check()
    shoot(page, "request-security-key")
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_role("status").filter(has_text="Your decision was recorded")).to_be_visible()
    expect(
        page.get_by_text(re.compile(r"authenticated by session-password\+step-up-webauthn")).first
    ).to_be_visible()


def decisions(records: Records, reviewer: str) -> list[dict[str, Any]]:
    return [
        r
        for r in records
        if r["action"] == "decision.approve" and r["subject"]["reviewer"] == reviewer
    ]


def problems_of(bundle: bytes, key: bytes) -> list[str]:
    return [str(p) for p in verify_bundle(bundle, public_key_raw(key)).problems]


def test_security_key_approvals_verify_offline_and_forgeries_are_named(
    server: LiveServer, browser, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    app = server.app
    for name in ("alice", "bob"):
        add_reviewer(app, name)
    gated = make_gated_repo(tmp_path / "git", server.url, new_token(app), policy=POLICY)
    # WebAuthn needs a domain for its RP ID (never an IP address): localhost, a secure context.
    base = server.url.replace("127.0.0.1", "localhost")

    clone = gated.clone()
    clone.commit("initial", {"model/net.py": "layers = 1\n"})
    assert clone.push().ok
    first = clone.commit("Widen", {"model/net.py": "layers = 2\n"}, author=AGENT)
    held = clone.push()
    assert not held.ok
    request_id = request_id_from(held.gate_lines)

    alice, alice_page = reviewer_with_key(browser, base, "alice")
    bob, bob_page = reviewer_with_key(browser, base, "bob")
    approve_with_key(alice_page, base, request_id, "Width change is fine.\nChecked the shapes.")
    assert not clone.push().ok, "one of two approvals is not enough"
    approve_with_key(bob_page, base, request_id, "Agreed.")
    final = clone.push()
    assert final.ok, final.stderr
    assert remote_ref(gated.bare) == first

    # A second request, approved by alice only: the assertion to replay onto the first.
    clone.commit("Deeper", {"model/net.py": "layers = 3\n"}, author=AGENT)
    second = request_id_from(clone.push().gate_lines)
    approve_with_key(alice_page, base, second, "Depth is fine too.")
    alice.close()
    bob.close()

    exported = run_gate(app, "audit", "export", "--out", str(tmp_path / "bundle.zip"))
    assert exported.exit_code == 0, exported.output
    bundle = (tmp_path / "bundle.zip").read_bytes()
    key_dir = Path(app.config["GATE_AUDIT_KEY_DIR"])
    key_file = key_dir / "audit-ed25519.pub.pem"
    key = key_file.read_bytes()
    verified = run_gate(
        app, "audit", "verify", str(tmp_path / "bundle.zip"), "--public-key", str(key_file)
    )
    assert verified.exit_code == 0, verified.output
    assert re.search(
        rf"^note: request {request_id} approved by alice's security key [A-Za-z0-9_-]+ over "
        "statement [0-9a-f]{64}$",
        verified.stdout,
        re.MULTILINE,
    ), verified.stdout
    assert "3 approvals signed by security keys, 1 in-toto review attestations" in verified.stdout
    report = verify_bundle(bundle, public_key_raw(key))
    assert report.ok, report.problems
    assert report.approvals_signed == 3 and report.envelopes_checked == 1
    signed = [n for n in report.notes if "security key" in n]
    assert len(signed) == 3
    assert re.fullmatch(
        rf"request {request_id} approved by alice's security key [A-Za-z0-9_-]+ over statement "
        "[0-9a-f]{64}",
        signed[0],
    ), signed[0]

    # The in-toto statement: the commit as its subject, two-party reviewed.
    files = _files(bundle)
    # The report lists approved changes: request 1, signed by both keys.
    assert files["report.html"].decode().count("signed by security key <code>") == 2
    envelope = json.loads(files[f"attestations/request-{request_id:08d}.intoto.json"])
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["subject"] == [{"name": f"repo@{first}", "digest": {"gitCommit": first}}]
    assert statement["predicateType"] == "https://gate.dev/review/v1"
    assert statement["predicate"]["twoPartyReview"] is True
    assert statement["predicate"]["slsaVerifiedProperties"] == ["SLSA_SOURCE_TWO_PARTY_REVIEWED"]
    assert [r["reviewer"] for r in statement["predicate"]["reviewers"]] == ["alice", "bob"]

    # The insider's rewrite alone (no edit) still verifies: the checks below are not an
    # artefact of re-signing.
    assert problems_of(rewrite_bundle(bundle, key_dir, lambda records: None), key) == []

    def tamper(records: Records) -> None:
        record = decisions(records, "alice")[0]
        for holder in (record["subject"], record["subject"]["webauthn"]["statement"]):
            holder["comment"] = "Ship it, no need to look."

    tampered = tmp_path / "tampered.zip"
    tampered.write_bytes(rewrite_bundle(bundle, key_dir, tamper))
    refused = run_gate(app, "audit", "verify", str(tampered), "--public-key", str(key_file))
    assert refused.exit_code == 1, refused.output
    assert re.search(
        rf"^FAIL record seq \d+ \(line \d+\): approval of request {request_id} by alice: "
        "TAMPERED statement: its SHA-256 is [0-9a-f]{64}, but the security key signed the "
        "challenge [0-9a-f]{64}: the statement was changed after it was signed$",
        refused.stdout,
        re.MULTILINE,
    ), refused.stdout
    problems = problems_of(tampered.read_bytes(), key)
    assert len(problems) == 1 and "TAMPERED statement: its SHA-256 is" in problems[0], problems

    def swap(records: Records) -> None:
        alices = decisions(records, "alice")[0]["subject"]["webauthn"]
        alices["credential_id"] = decisions(records, "bob")[0]["subject"]["webauthn"][
            "credential_id"
        ]

    problems = problems_of(rewrite_bundle(bundle, key_dir, swap), key)
    assert len(problems) == 1 and "SWAPPED credential:" in problems[0], problems
    assert "is enrolled for bob, not for the approving reviewer alice" in problems[0]

    def replay(records: Records) -> None:
        onto_second = decisions(records, "alice")[1]
        onto_second["subject"]["webauthn"] = decisions(records, "alice")[0]["subject"]["webauthn"]

    problems = problems_of(rewrite_bundle(bundle, key_dir, replay), key)
    assert len(problems) == 1 and "REPLAYED assertion:" in problems[0], problems
    assert f"for request {request_id}" in problems[0]


def _files(bundle: bytes) -> dict[str, bytes]:
    from tests.support.auditlog import read_zip

    return read_zip(bundle)
