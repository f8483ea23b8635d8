"""The HTML disclosure report and the metrics page, rendered by headless Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import ARTIFACTS
from tests.support.audit import wait_for_push_reports
from tests.support.cli import run_gate
from tests.support.gitrepo import CLAUDE_TRAILER
from tests.support.server import PASSWORD, GatedRepo, LiveServer, request_id_from

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def small_history(gated: GatedRepo, server: LiveServer) -> None:
    clone = gated.clone()
    for week, monday in enumerate(["2026-03-02", "2026-03-09"]):
        for n in range(4):
            trailers = [CLAUDE_TRAILER] if n < week + 1 else None
            clone.commit(
                f"c{week}{n}",
                {f"train/{week}{n}.py": "x\n"},
                trailers=trailers,
                date=f"{monday}T1{n}:00:00Z",
            )
        request_id = request_id_from(clone.push().gate_lines)
        assert server.reviewer("alice").decide(request_id, "approve", "ok").ok
        assert clone.push().ok
    wait_for_push_reports(server.app, 2)


def plots_rendered(page) -> list[int]:  # type: ignore[no-untyped-def]
    return page.eval_on_selector_all(
        "img.plot", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)"
    )


def test_html_report_renders_its_plots(
    gated: GatedRepo, server: LiveServer, tmp_path: Path, browser
) -> None:  # type: ignore[no-untyped-def]
    small_history(gated, server)
    out = tmp_path / "report.html"
    result = run_gate(server.app, "report", "--format", "html", "--out", str(out))
    assert result.exit_code == 0, result.output
    ARTIFACTS.mkdir(exist_ok=True)

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(out.as_uri())
    widths = plots_rendered(page)
    assert len(widths) == 2 and all(w > 0 for w in widths), widths
    assert "Agent share over time" in page.content()
    cells = page.eval_on_selector_all("#weeks ~ table tbody tr", "rows => rows.length")
    assert cells == 3  # two weeks of commits, and this week's requests and sign-offs
    page.screenshot(path=str(ARTIFACTS / "disclosure-report.png"), full_page=True)

    page.goto(f"{server.url}/login")
    page.fill("#username", "alice")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{server.url}/metrics")
    widths = plots_rendered(page)
    assert len(widths) == 2 and all(w > 0 for w in widths), widths
    page.screenshot(path=str(ARTIFACTS / "metrics-page.png"), full_page=True)
