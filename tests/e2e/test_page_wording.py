"""What the pages say: who denied a request, which hash is which, that every time is UTC, the
favicon, and that e-mail and URL fields look like the other text fields. Real pushes through the
installed hook, the web app on a real port, reviewers' real HTTP sessions; Chromium for styles."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import select

from tests.e2e.test_browser import DESKTOP
from tests.support.gitrepo import CLAUDE_TRAILER
from tests.support.server import (
    PASSWORD,
    GatedRepo,
    LiveServer,
    add_reviewer,
    eventually,
    request_id_from,
)

AGENT = ("Build Bot", "ci@bots.example.com")
# A date and a time to the minute, as a person reads it (tags stripped, so attributes such as
# <time datetime="..."> are not counted).
MOMENT = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(?::\d\d)?")


@pytest.fixture
def app_overrides() -> dict[str, object]:
    return {"GATE_WEBHOOK_ALLOW_PRIVATE": True, "GATE_WEBHOOK_BACKOFF_SECONDS": 3600}


def text_of(html: str) -> str:
    return unescape(re.sub(r"<[^>]*>", " ", re.sub(r"(?s)<(script|style)\b.*?</\1>", "", html)))


def times_without_utc(html: str) -> tuple[int, list[str]]:
    """How many times the page shows, and those not followed by "UTC"."""
    text = text_of(html)
    found = list(MOMENT.finditer(text))
    bare = [m.group(0) for m in found if not text[m.end() :].startswith(" UTC")]
    return len(found), bare


def push_model_change(gated: GatedRepo) -> tuple[object, int]:
    clone = gated.clone()
    clone.commit("initial", {"train/loop.py": "steps = 1\n", "model/net.py": "layers = 1\n"})
    assert clone.push().ok
    clone.commit("wider", {"model/net.py": "layers = 2\n"}, author=AGENT, trailers=[CLAUDE_TRAILER])
    return clone, request_id_from(clone.push().gate_lines)


def test_request_page_names_the_denier_and_says_utc(gated: GatedRepo, server: LiveServer) -> None:
    _, request_id = push_model_change(gated)
    alice, bob = server.reviewer("alice"), server.reviewer("bob")
    page = alice.page(f"/requests/{request_id}").text
    assert "nobody yet" in text_of(page), "a pending request nobody approved says so"
    assert alice.decide(request_id, "approve", "first look").ok
    assert alice.withdraw(request_id).ok
    assert alice.decide(request_id, "approve", "second look").ok  # model needs 2: still pending
    page = alice.page(f"/requests/{request_id}").text
    text = text_of(page)
    assert re.search(r"You approved this request on \d{4}-\d\d-\d\d \d\d:\d\d UTC", text), text
    assert re.search(r"\(withdrawn \d{4}-\d\d-\d\d \d\d:\d\d UTC\)", text)
    shown, bare = times_without_utc(page)
    assert shown >= 3 and not bare, bare
    assert bob.decide(request_id, "deny", "not like this").ok
    text = text_of(alice.page(f"/requests/{request_id}").text)
    approved_by = re.search(r"Approved by\s+(.*?)\s+Attested SHA-256", text, re.S)
    assert approved_by, text
    assert "nobody yet" not in text
    assert re.fullmatch(
        r"Alice Reviewer <alice@\S+> \(denied by Bob Reviewer <bob@\S+>\)", approved_by.group(1)
    ), approved_by.group(1)
    shown, bare = times_without_utc(alice.page(f"/requests/{request_id}").text)
    assert shown >= 3 and not bare, bare


def test_a_denied_request_nobody_approved_says_who_denied_it(
    gated: GatedRepo, server: LiveServer
) -> None:
    _, request_id = push_model_change(gated)
    assert server.reviewer("bob").decide(request_id, "deny", "no").ok
    text = text_of(server.reviewer("alice").page(f"/requests/{request_id}").text)
    approved_by = re.search(r"Approved by\s+(.*?)\s+Attested SHA-256", text, re.S)
    assert approved_by and "nobody yet" not in text
    assert re.fullmatch(r"nobody \(denied by Bob Reviewer <bob@\S+>\)", approved_by.group(1)), (
        approved_by.group(1)
    )


def test_request_page_labels_each_hash_with_its_own_value(
    gated: GatedRepo, server: LiveServer
) -> None:
    from gate.server.extensions import db
    from gate.server.models import HeldItem

    clone = gated.clone()
    clone.commit("initial", {"train/loop.py": "steps = 1\n", "model/net.py": "layers = 1\n"})
    assert clone.push().ok
    clone.commit("wider", {"model/net.py": "layers = 2\n"}, author=AGENT, trailers=[CLAUDE_TRAILER])
    clone.commit(
        "deeper", {"train/loop.py": "steps = 3\n"}, author=AGENT, trailers=[CLAUDE_TRAILER]
    )
    request_id = request_id_from(clone.push().gate_lines)
    html = server.reviewer("alice").page(f"/requests/{request_id}").text
    assert "diff sha-256" not in html.lower()
    attested = re.findall(r"<dt>Attested SHA-256</dt><dd class=\"mono\">([0-9a-f]{64}) ", html)
    shown_field = re.search(r'name="shown_sha256" value="([0-9a-f]{64})"', html)
    assert len(attested) == 1 and shown_field and attested[0] == shown_field.group(1)
    content = re.findall(r'<dt>Content SHA-256</dt><dd><span class="mono">([0-9a-f]{64})<', html)
    shown = re.findall(r'<dt>Shown SHA-256</dt><dd><span class="mono">([0-9a-f]{64})<', html)
    with server.app.app_context():  # type: ignore[attr-defined]
        items = db.session.scalars(
            select(HeldItem).where(HeldItem.request_id == request_id).order_by(HeldItem.id)
        ).all()
        stored = [(i.content_sha256, i.diff_sha256) for i in items if i.kind == "commit"]
    assert len(stored) == 2 and all(c and d and c != d for c, d in stored)
    assert sorted(content) == sorted(c for c, _ in stored)
    assert sorted(shown) == sorted(d for _, d in stored)
    assert attested[0] not in content + shown, "the attested hash covers the others"


def test_pause_and_webhook_pages_say_utc(gated: GatedRepo, server: LiveServer) -> None:
    from gate.server.database import command
    from gate.server.services.actor import Actor
    from gate.server.services.notify import add_webhook

    add_reviewer(server.app, "root", role="admin")
    with command(server.app):
        add_webhook("http://127.0.0.1:9/down", "json", [], actor=Actor.cli())
    push_model_change(gated)  # an event the down webhook fails to take: a pending delivery
    root = server.reviewer("root")
    started = root.post(
        "/admin/pause/start",
        {
            "start-reason": "incident",
            "start-scope": "model",
            "start-until": "3d",
            "start-password": PASSWORD,
        },
    )
    assert started.ok, started.text
    pause = root.page("/admin/pause").text
    assert "Stop pause #1" in pause
    shown, bare = times_without_utc(pause)
    assert shown >= 2 and not bare, bare  # started and until

    def webhooks_page() -> str | None:
        page = root.page("/admin/webhooks").text
        return page if MOMENT.search(text_of(page)) else None

    webhooks = eventually(webhooks_page, "a pending delivery's next attempt on the webhooks page")
    shown, bare = times_without_utc(webhooks)
    assert shown >= 1 and not bare, bare


def test_pages_link_a_favicon_that_is_served(gated: GatedRepo, server: LiveServer) -> None:
    session = server.reviewer("alice")
    for path in ("/login", "/", "/metrics"):
        html = session.page(path).text
        links = re.findall(r'<link rel="icon"[^>]*href="([^"]+)"', html)
        assert len(links) == 1 and links[0].startswith("/"), f"{path}: {links}: not served"
        icon = session.page(unescape(links[0]))
        assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg")
        assert b"<svg" in icon.content
    legacy = session.page("/favicon.ico")
    assert legacy.status_code == 200 and legacy.headers["content-type"].startswith("image/")


@pytest.mark.browser
def test_email_and_url_fields_look_like_text_fields(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    add_reviewer(server.app, "root", role="admin")
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    try:
        page.goto(f"{server.url}/login")
        page.get_by_label("Username").fill("root")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_load_state()
        style = """el => { const s = getComputedStyle(el); return [s.borderTopWidth,
            s.borderTopStyle, s.borderTopColor, s.borderRadius, s.paddingTop, s.paddingLeft,
            s.maxWidth, s.fontSize].join(' '); }"""
        for path, kind, like in (
            ("/admin/users", "email", "text"),
            ("/admin/webhooks", "url", "password"),
        ):
            page.goto(f"{server.url}{path}")
            fields = page.locator(f"main input[type={kind}]")
            assert fields.count() >= 1, f"{path} has no {kind} field"
            like_field = page.locator(f"main form:has(input[type={kind}]) input[type={like}]")
            field = fields.first
            assert field.evaluate(style) == like_field.first.evaluate(style), (path, kind)
            width = "el => el.getBoundingClientRect().width"
            assert field.evaluate(width) == like_field.first.evaluate(width), (path, kind)
    finally:
        context.close()
