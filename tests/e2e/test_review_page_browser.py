"""The review page's layouts, hidden lines and keys in Debian's Chromium, on real pushes: side
by side stays within a 390 px phone, hidden lines come in without a reload, n / p follow
"Waiting on me"."""

from __future__ import annotations

import re

import pytest

from tests.e2e.test_browser import DESKTOP, PHONE, log_in, shoot
from tests.support.server import GatedRepo, LiveServer, request_id_from

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

AGENT = ("Build Bot", "ci@bots.example.com")
LONG = "".join(
    f"value_{n} = 'a rather long line of text, number {n}, to fill a phone'\n" for n in range(1, 51)
)


def test_layouts_hidden_lines_and_keys(gated: GatedRepo, server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    clone = gated.clone()
    clone.commit("initial", {"train/loop.py": LONG, "train/other.py": "x = 1\n"})
    assert clone.push().ok
    clone.run("checkout", "-q", "-b", "release/1")
    clone.commit(
        "two hunks",
        {"train/loop.py": LONG.replace("number 3,", "number three,").replace("number 40,", "n40,")},
        author=AGENT,
    )
    first = request_id_from(clone.push("HEAD:refs/heads/release/1").gate_lines)
    clone.run("checkout", "-q", "-b", "release/2", "main")
    clone.commit("other", {"train/other.py": "x = 2\n"}, author=AGENT)
    second = request_id_from(clone.push("HEAD:refs/heads/release/2").gate_lines)

    context, page = log_in(browser, server, "alice")
    page.goto(f"{server.url}/requests/{first}")
    table = page.get_by_role("table", name="Changes to train/loop.py")
    expect(table).to_have_class(re.compile("diff-unified"))
    # Hidden lines between the hunks, fetched into the table: no reload.
    url = page.url
    before = table.locator("tr.ctx").count()
    links = table.get_by_role("link", name="⋯ show hidden lines")
    expect(links).to_have_count(2)  # between the hunks, and after the last (none before line 1)
    links.first.click()
    expect(table.locator("tr.context-line").first).to_contain_text("number 7,")
    assert page.url == url
    numbers = table.locator("tr.context-line td.no:nth-child(2)").all_inner_texts()
    assert numbers == [str(n) for n in range(7, 37)]
    assert table.locator("tr.ctx").count() == before + 30

    # Side by side, remembered; at 390 px the page still does not scroll sideways.
    page.get_by_role("link", name="Side by side").click()
    table = page.get_by_role("table", name="Changes to train/loop.py")
    expect(table).to_have_class(re.compile("diff-split"))
    changed = table.locator("tr.split-change").first
    expect(changed.locator("td.code.del")).to_contain_text("number 3,")
    expect(changed.locator("td.code.add")).to_contain_text("number three,")
    page.goto(f"{server.url}/requests/{first}")
    expect(page.get_by_role("table", name="Changes to train/loop.py")).to_have_class(
        re.compile("diff-split")
    )
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]
    shoot(page, "request-side-by-side")
    page.set_viewport_size(DESKTOP)

    # n / p: through "Waiting on me", oldest first.
    page.keyboard.press("n")
    expect(page.get_by_role("heading", name=f"Request #{second}")).to_be_visible()
    # The heading shows before the deferred review.js runs: a key pressed then is lost.
    page.wait_for_load_state("domcontentloaded")
    page.keyboard.press("p")
    expect(page.get_by_role("heading", name=f"Request #{first}")).to_be_visible()
    # Typing in a field is not a key command.
    page.locator("textarea[name=comment]").fill("n")
    expect(page.get_by_role("heading", name=f"Request #{first}")).to_be_visible()
    context.close()
