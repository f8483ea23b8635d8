"""No page of the app scrolls sideways, at 1280 px or on a 390 px phone, with a filled queue.

The pages are the app's own GET routes (Flask's url_map), so a page added later is visited too:
a route whose arguments this test cannot fill fails it, naming the argument. Each page is
opened in Chromium by a user whose role may see it, checked with
``document.scrollingElement.scrollWidth`` against the viewport, and kept as a screenshot
under the directory the test prints (GATE_TEST_ARTIFACTS, else test-artifacts/layout, where
the other browser tests keep theirs). At 1280 px no ordinary word in a table cell is broken
across lines (a column squeezed below its longest word: "approve / d"); at 390 px a button's
text stays on one line (the pause page's Stop button once stood one letter per line). No page
asks for an icon, or anything else, that answers 404.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gate.server.database import command
from gate.server.services.actor import Actor
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_browser import DESKTOP, PHONE
from tests.support.gitrepo import CLAUDE_TRAILER
from tests.support.server import PASSWORD, GatedRepo, LiveServer, add_reviewer, request_id_from

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

AGENT = ("Build Bot With A Rather Long Name", "continuous-integration-robot@bots.example.com")
LONG = "a_very_long_identifier_without_any_break_" * 4
PAUSE_REASON = (
    "Incident response: the training loop diverged overnight and we are investigating "
    "whether the data loader change caused it; hold every agent change to training until then"
)
ROLE_OF = {"admin": "root", "health": "root", "pause": "root", "audit": "audrey"}
SKIPPED_BLUEPRINTS = {"static", "api"}  # files and JSON for programs, not pages


@pytest.fixture
def app_overrides() -> dict[str, object]:
    return {"GATE_WEBHOOK_ALLOW_PRIVATE": True, "GATE_WEBHOOK_BACKOFF_SECONDS": 3600}


def fill_queue(gated: GatedRepo, server: LiveServer) -> dict[str, list[str]]:
    """Requests of every state, long names everywhere, a superseded approved one, a failed
    webhook delivery, a pause in force; the values each route argument takes."""
    from sqlalchemy import select

    from gate.server.extensions import db
    from gate.server.models import User
    from gate.server.services.groups import add_group, set_guard_groups
    from gate.server.services.notify import add_webhook
    from gate.server.services.pauses import start_pause

    app = server.app
    with command(app):
        add_webhook(f"http://127.0.0.1:9/{LONG}/{LONG}", "json", [], actor=Actor.cli())
    clone = gated.clone()
    clone.commit("initial", {"train/loop.py": "x = 0\n", "model/net.py": "n = 0\n"})
    assert clone.push().ok
    ids = []
    branch = f"release/{LONG}"
    clone.run("checkout", "-q", "-b", branch)
    clone.commit(
        f"Change {LONG} everywhere",
        {f"train/{LONG}/{LONG}.py": f"{LONG} = '{LONG * 3}'\n", "model/net.py": "n = 1\n"},
        author=AGENT,
        trailers=[CLAUDE_TRAILER],
    )
    ids.append(request_id_from(clone.push(f"HEAD:refs/heads/{branch}", "agent-x").gate_lines))
    assert server.reviewer("alice").decide(ids[0], "approve", LONG).ok
    clone.commit("and more", {"model/net.py": "n = 2\n"}, author=AGENT)
    ids.append(request_id_from(clone.push(f"HEAD:refs/heads/{branch}", "agent-x").gate_lines))
    clone.run("checkout", "-q", "-b", "release/denied", "main")
    clone.commit("denied one", {"train/loop.py": "x = 9\n"}, author=AGENT)
    ids.append(request_id_from(clone.push("HEAD:refs/heads/release/denied").gate_lines))
    assert server.reviewer("bob").decide(ids[-1], "deny", f"No: {LONG}").ok
    with command(app):
        group = add_group(f"group-{LONG}"[:120], actor=Actor.cli())
        set_guard_groups("training", [group.id], actor=Actor.cli())
        root = db.session.scalar(select(User).where(User.username == "root"))
        assert root is not None, "add root before filling the queue"
        until = datetime.now(UTC) + timedelta(days=3)
        start_pause(root, PAUSE_REASON, ["training"], until, actor=Actor.cli_password(root))
    return {"request_id": [str(i) for i in ids], "fmt": ["html"], "checkpoint_id": []}


def routes(app) -> list[tuple[str, str, list[str]]]:  # type: ignore[no-untyped-def]
    return sorted(
        (rule.endpoint, rule.rule, sorted(rule.arguments))
        for rule in app.url_map.iter_rules()
        if "GET" in (rule.methods or ())
        and rule.endpoint.split(".", 1)[0] not in SKIPPED_BLUEPRINTS
    )


def pages(app, values: dict[str, list[str]]) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(endpoint, path) for every page, each argument filled with each of its values."""
    found = []
    for endpoint, rule, arguments in routes(app):
        if not arguments:
            found.append((endpoint, rule))
            continue
        assert len(arguments) == 1, f"{rule}: fill its arguments in this test"
        (name,) = arguments
        assert name in values, f"{rule}: this test has no value for <{name}>; add one"
        for value in values[name]:
            path = rule.replace(f"<id:{name}>", value).replace(f"<{name}>", value)
            found.append((endpoint, path))
    return found


def artifacts() -> Path:
    base = os.environ.get("GATE_TEST_ARTIFACTS")
    folder = (Path(base) if base else ARTIFACTS) / "layout"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"layout screenshots: {folder}")
    return folder


# Each ordinary word (letters and digits, at most 30 of them, perhaps ending in punctuation)
# of a table cell, outside code and identifiers, whose Range has more than one client rect:
# the word is split across lines.
SPLIT_WORDS = """() => {
  const broken = [];
  for (const cell of document.querySelectorAll('main td, main th')) {
    if (cell.closest('table.diff')) continue;
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.parentElement.closest('code, pre, .mono, textarea, select, button')) continue;
      const text = node.textContent;
      for (const m of text.matchAll(/\\S+/g)) {
        if (!/^[A-Za-z0-9]{2,30}[.,:;)]?$/.test(m[0])) continue;
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        if (range.getClientRects().length > 1) broken.push(m[0]);
      }
    }
  }
  return broken;
}"""

# The text of each button of at most 30 characters (a long one, naming a long group, may wrap)
# that does not sit on one line.
WRAPPED_BUTTONS = """() => [...document.querySelectorAll('main button')].filter(b => {
  if (b.textContent.trim().length > 30) return false;
  const range = document.createRange();
  range.selectNodeContents(b);
  const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
  return tops.size > 1;
}).map(b => b.textContent.trim())"""


def test_no_page_scrolls_sideways(gated: GatedRepo, server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    add_reviewer(server.app, "root", role="admin")
    add_reviewer(server.app, "audrey", role="auditor")
    values = fill_queue(gated, server)
    with server.app.app_context():  # type: ignore[attr-defined]
        from gate.server.extensions import db
        from gate.server.models import AuditCheckpoint

        values["checkpoint_id"] = [
            str(i) for i in db.session.scalars(db.select(AuditCheckpoint.id)).all()[:1]
        ]
    folder = artifacts()
    contexts = {}
    missing: list[str] = []
    for role_user in {"root", "audrey", "alice", None}:
        context = browser.new_context(viewport=DESKTOP)
        page = context.new_page()
        if role_user:
            page.goto(f"{server.url}/login")
            page.get_by_label("Username").fill(role_user)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_load_state()
        page.on(
            "response",
            lambda r: (
                missing.append(f"{r.url} ({r.request.frame.url})") if r.status == 404 else None
            ),
        )
        contexts[role_user] = (context, page)
    overflows: list[str] = []
    visited = 0
    try:
        for endpoint, path in pages(server.app, values):
            blueprint = endpoint.split(".", 1)[0]
            users = (
                ["alice", "root"]
                if blueprint in ("review", "metrics")
                else [ROLE_OF.get(blueprint, "root")]
            )
            if endpoint == "auth.login":
                users = [None]
            for user in users:
                context, page = contexts[user]
                probe = context.request.get(f"{server.url}{path}")
                assert probe.status < 400, f"{path} as {user}: HTTP {probe.status}"
                headers = probe.headers
                if "text/html" not in headers.get(
                    "content-type", ""
                ) or "attachment" in headers.get("content-disposition", ""):
                    continue  # a download, not a page
                response = page.goto(f"{server.url}{path}")
                assert response is not None and response.status < 400, path
                visited += 1
                for label, size in (("1280", DESKTOP), ("390", PHONE)):
                    page.set_viewport_size(size)
                    width = page.evaluate("document.scrollingElement.scrollWidth")
                    name = f"{endpoint}-{path.strip('/').replace('/', '_')[:60]}-{user}-{label}.png"
                    page.screenshot(path=str(folder / name), full_page=True)
                    if width > size["width"]:
                        overflows.append(f"{path} as {user} at {label} px: {width} px wide")
                    where = f"{path} as {user} at {label} px"
                    if label == "1280" and (split := page.evaluate(SPLIT_WORDS)):
                        overflows.append(f"{where}: words split across lines: {split[:10]}")
                    if label == "390" and (wrapped := page.evaluate(WRAPPED_BUTTONS)):
                        overflows.append(f"{where}: button text on several lines: {wrapped}")
                    if endpoint == "pause.index":
                        stops = page.get_by_role("button", name="Stop pause #")
                        assert stops.count() == 1, "fill_queue started one pause: it is shown"
                page.set_viewport_size(DESKTOP)
    finally:
        for context, _ in contexts.values():
            context.close()
    assert visited >= 15
    assert not overflows, "\n".join(overflows)
    assert not missing, "404s while loading the pages:\n" + "\n".join(missing)
