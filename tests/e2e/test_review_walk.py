"""Issue 14's review walk, in Debian's Chromium with a real pushed repository, the real hook
and a live server: a reviewer opens "Waiting on me", opens the request, ticks every file
(approval is refused, on the page, before the last tick), leaves a line comment and denies;
the agent's next push of the same commits shows the comment in the refusal; the agent's
superseding change shows which commits are unchanged since a request a reviewer approved."""

from __future__ import annotations

import re

import pytest

from tests.e2e.test_browser import PHONE, log_in, shoot
from tests.support.server import PASSWORD, GatedRepo, LiveServer, request_id_from

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

AGENT = ("Build Bot", "ci@bots.example.com")
LOOP = "".join(f"step_{n} = {n}\n" for n in range(1, 41))


def file_of(page, path: str):  # type: ignore[no-untyped-def]
    """A file's block on the request page, open or collapsed (a ticked file collapses)."""
    return page.locator("details.file").filter(
        has=page.locator("summary", has_text=re.compile(rf"\b{re.escape(path)}\b"))
    )


def test_review_walk(gated: GatedRepo, server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    agent = gated.clone()
    agent.commit(
        "initial",
        {"train/loop.py": LOOP, "train/data.py": "rows = 1\n", "model/a.py": "a = 1\n"},
    )
    assert agent.push().ok
    agent.run("checkout", "-q", "-b", "work")
    tuned = agent.commit(
        "Tune the loop",
        {"train/loop.py": LOOP.replace("step_20 = 20\n", "step_20 = 2000\n")},
        author=AGENT,
    )
    data = agent.commit("More rows", {"train/data.py": "rows = 2\n"}, author=AGENT)
    held = agent.push("HEAD:refs/heads/main", pusher="agent-x")
    assert not held.ok
    first = request_id_from(held.gate_lines)

    context, page = log_in(browser, server, "alice")
    expect(page.locator("a.waiting-link")).to_have_text("Waiting on me 1")
    waiting = page.get_by_role("region", name="Waiting on you (1)")
    waiting.get_by_role("link", name=f"Request #{first}").click()
    expect(page.get_by_role("heading", name=f"Request #{first}")).to_be_visible()
    page.wait_for_load_state("domcontentloaded")  # review.js (deferred) takes the keys
    progress = page.locator("#viewed-progress")
    expect(progress).to_contain_text("You have viewed 0 of 2 guarded files")

    # j / k move between files.
    page.keyboard.press("j")
    files = page.locator("details.file")
    expect(files.nth(0)).to_have_class(re.compile("is-current"))
    page.keyboard.press("j")
    expect(files.nth(1)).to_have_class(re.compile("is-current"))
    page.keyboard.press("k")
    expect(files.nth(0)).to_have_class(re.compile("is-current"))

    # One tick, without a reload: the counts and the decision form's note follow.
    url = page.url
    loop_file = file_of(page, "train/loop.py")
    loop_file.get_by_role("button", name="Mark as viewed").click()
    expect(progress).to_contain_text("You have viewed 1 of 2 guarded files")
    assert page.url == url
    note = page.locator("#unviewed-note")
    expect(note).to_contain_text(f"train/data.py ({data[:12]})")
    expect(note).not_to_contain_text("train/loop.py")

    # Approving before the last tick: refused, and the page says why.
    page.get_by_role("radio", name="Approve").check()
    page.get_by_role("checkbox", name=re.compile(r"I reviewed commits")).check()
    page.get_by_label("Your password (needed to approve)").fill(PASSWORD)
    page.get_by_role("button", name="Record decision").click()
    expect(
        page.get_by_role("alert").filter(has_text="mark every guarded file as viewed")
    ).to_contain_text(f"1 not viewed yet: train/data.py ({data[:12]})")

    # The last tick (the page came back at the form; the first tick is still there).
    expect(progress).to_contain_text("You have viewed 1 of 2 guarded files")
    data_file = file_of(page, "train/data.py")
    data_file.evaluate("el => { el.open = true; }")
    data_file.get_by_role("button", name="Mark as viewed").click()
    expect(progress).to_contain_text("You have viewed 2 of 2 guarded files")
    expect(note).to_be_hidden()

    # A comment on line 20: clicking the line number aims the form at it.
    loop_file.evaluate("el => { el.open = true; }")
    loop_table = loop_file.get_by_role("table", name="Changes to train/loop.py")
    loop_table.locator("tr.add", has_text="step_20 = 2000").locator("td.no").nth(1).click()
    expect(loop_file.get_by_label("Line", exact=True)).to_have_value("20")
    loop_file.get_by_label("Comment on this line").fill("2000 steps is too many; keep it near 20.")
    loop_file.get_by_role("button", name="Add comment").click()
    expect(page.get_by_role("status").filter(has_text="kept as a draft")).to_be_visible()
    expect(page.locator("tr.line-comment")).to_contain_text("keep it near 20")

    page.get_by_role("radio", name="Deny").check()
    page.get_by_label("Comment", exact=True).fill("Not this way.")
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_role("status").filter(has_text="Your decision was recorded")).to_be_visible()
    expect(page.get_by_role("heading", name=f"Request #{first}")).to_contain_text("denied")
    expect(page.locator("ul.decision-comments")).to_contain_text(
        "train/loop.py, new line 20: 2000 steps is too many; keep it near 20."
    )
    shoot(page, "review-walk-denied")

    # The agent pushes the same commits again: the refusal carries the line comment.
    again = agent.push("HEAD:refs/heads/main", pusher="agent-x")
    assert not again.ok
    assert any(
        "train/loop.py:20 (new): 2000 steps is too many; keep it near 20." in line
        for line in again.gate_lines
    ), again.stderr

    # The agent starts over: a model change, which bob approves (model needs two) ...
    agent.run("checkout", "-q", "-B", "work", "origin/main")
    model = agent.commit("Model a", {"model/a.py": "a = 2\n"}, author=AGENT)
    second = request_id_from(agent.push("HEAD:refs/heads/main", pusher="agent-x").gate_lines)
    assert server.reviewer("bob").decide(second, "approve", "fine").ok
    # ... then a superseding push that keeps that commit and adds one.
    more = agent.commit("Model b", {"model/b.py": "b = 1\n"}, author=AGENT)
    third = request_id_from(agent.push("HEAD:refs/heads/main", pusher="agent-x").gate_lines)
    assert third != second

    page.goto(f"{server.url}/requests")
    page.get_by_role("region", name=re.compile(r"Waiting on you")).get_by_role(
        "link", name=f"Request #{third}"
    ).click()
    block = page.get_by_role("region", name=f"Since request #{second}, which bob approved")
    expect(block).to_contain_text("1 unchanged")
    expect(block.get_by_role("row", name=re.compile(model[:12]))).to_contain_text("unchanged")
    expect(block.get_by_role("row", name=re.compile(more[:12]))).to_contain_text("new or changed")
    assert tuned not in page.content()
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]
    shoot(page, "review-walk-superseding")
    context.close()
