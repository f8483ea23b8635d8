"""A request that supersedes an approved one says which commits are unchanged: the same commit,
or the same change rebased (same ``git patch-id --stable``), so the reviewer re-reviews only the
rest. Real pushes through the hook, pages read over real HTTP."""

from __future__ import annotations

import re

import pytest

from tests.support.server import GatedRepo, LiveServer, request_id_from

AGENT = ("Build Bot", "ci@bots.example.com")


def statuses(html: str, request_id: int) -> dict[str, str]:
    """Short commit id -> what the "since request #N" table says of it."""
    section = html.split(f'id="rereview-{request_id}"', 1)[1].split("</section>", 1)[0]
    rows = re.findall(
        r'<tr class="rereview-[a-z-]+"><td><span class="mono">([0-9a-f]{12})</span>.*?</td>\s*<td>(.*?)</td></tr>',
        section,
        re.S,
    )
    return {key: re.sub(r"<[^>]+>", "", text).strip() for key, text in rows}


def test_superseding_request_shows_what_is_unchanged(gated: GatedRepo, server: LiveServer) -> None:
    agent = gated.clone()
    agent.commit(
        "initial", {"model/a.py": "a = 1\n", "model/b.py": "b = 1\n", "model/c.py": "c = 1\n"}
    )
    assert agent.push().ok
    a = agent.commit("a", {"model/a.py": "a = 2\n"}, author=AGENT)
    b = agent.commit("b", {"model/b.py": "b = 2\n"}, author=AGENT)
    first = request_id_from(agent.push(pusher="agent-x").gate_lines)
    alice, bob = server.reviewer("alice"), server.reviewer("bob")
    assert alice.decide(first, "approve", "ok").ok is True
    c = agent.commit("c", {"model/c.py": "c = 2\n"}, author=AGENT)
    result = agent.push(pusher="agent-x")
    second = request_id_from(result.gate_lines)
    assert second != first

    page = bob.page(f"/requests/{second}").text
    assert f"Since request #{first}, which alice approved" in page
    assert statuses(page, first) == {
        a[:12]: "unchanged",
        b[:12]: "unchanged",
        c[:12]: "new or changed",
    }
    assert "2 unchanged" in page and "1 new or changed" in page

    # A human change lands on main; the agent rebases onto it and rewrites b.
    bob_first = bob.decide(second, "approve", "ok")
    assert bob_first.ok
    human = gated.clone()
    human.commit("docs", {"docs/readme.md": "hello\n"})
    assert human.push().ok
    agent.run("fetch", "-q", "origin")
    agent.run("reset", "-q", "--hard", "origin/main")
    agent.run("cherry-pick", a)
    a2 = agent.head()
    b2 = agent.commit("b, better", {"model/b.py": "b = 3\n"}, author=AGENT)
    agent.run("cherry-pick", c)
    c2 = agent.head()
    third = request_id_from(agent.push(pusher="agent-x").gate_lines)
    page = alice.page(f"/requests/{third}").text
    assert f"Since request #{second}, which bob approved" in page
    assert statuses(page, second) == {
        a2[:12]: f"same change as {a[:12]}",
        b2[:12]: "new or changed",
        c2[:12]: f"same change as {c[:12]}",
    }
    assert "2 the same change rebased" in page

    # A request that superseded nothing approved shows no comparison.
    assert "Since request #" not in alice.page(f"/requests/{first}").text


@pytest.mark.browser
def test_a_reviewer_in_the_browser_finds_what_waits_and_what_changed(
    gated: GatedRepo, server: LiveServer, browser
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    from tests.e2e.test_browser import log_in

    agent = gated.clone()
    agent.commit("initial", {"model/a.py": "a = 1\n", "model/b.py": "b = 1\n"})
    assert agent.push().ok
    a = agent.commit("a", {"model/a.py": "a = 2\n"}, author=AGENT)
    first = request_id_from(agent.push(pusher="agent-x").gate_lines)
    assert server.reviewer("alice").decide(first, "approve", "ok").ok
    b = agent.commit("b", {"model/b.py": "b = 2\n"}, author=AGENT)
    second = request_id_from(agent.push(pusher="agent-x").gate_lines)

    context, page = log_in(browser, server, "bob")
    expect(page.locator("a.waiting-link")).to_have_text("Waiting on me 1")
    waiting = page.get_by_role("region", name="Waiting on you (1)")
    waiting.get_by_role("link", name=f"Request #{second}").click()
    block = page.get_by_role("region", name=f"Since request #{first}, which alice approved")
    expect(block).to_contain_text("1 unchanged")
    expect(block.get_by_role("row", name=re.compile(a[:12]))).to_contain_text("unchanged")
    expect(block.get_by_role("row", name=re.compile(b[:12]))).to_contain_text("new or changed")
    context.close()
