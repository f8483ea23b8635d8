"""A 10,000-file commit pushed for real: its request page comes in pages of bounded HTML, every
file (path, status, blob ids) is on one of them, reachable through the links, guarded files on
page 1, and an approval given on page 1 covers the whole commit."""

from __future__ import annotations

import re
from html import unescape

import pytest

from gate.server.web.requestpage import FILES_PER_PAGE
from tests.support.gitrepo import CLAUDE_TRAILER, remote_ref
from tests.support.server import GatedRepo, LiveServer, request_id_from

pytestmark = pytest.mark.e2e

FILES = 10_000
GUARDED = 60  # fewer than a page holds: all on page 1
# Each page shows at most FILES_PER_PAGE files, 50 items and 512 KiB of patch text; with these
# files' one-hunk patches a page measured 54-367 KB, where the whole request was ~20 MB.
PAGE_BYTES = 500_000
_NEXT = re.compile(r'<a rel="next" href="([^"]+)"')
_FILE = re.compile(r'<span class="mono">(added|modified) ([^<]+)</span>')


def test_a_ten_thousand_file_commit_is_paged(gated: GatedRepo, server: LiveServer) -> None:
    clone = gated.clone()
    clone.commit("seed", {"README.md": "x\n"})
    assert clone.push().ok
    # "a/" sorts before "train/": only the guarded-first order puts the guarded files on page 1.
    files = {f"a/d{n % 100:02d}/f{n}.txt": f"line {n}\n" + "x" * 300 + "\n" for n in range(FILES)}
    files |= {f"train/t{n}.py": f"value = {n}\n" for n in range(GUARDED)}
    clone.commit("many files", files, trailers=[CLAUDE_TRAILER])
    # The server verifies and renders 10,060 files' objects before it answers: more than the
    # default 10 s on a loaded test machine, and this test is about the pages, not the speed.
    config = gated.bare / "gate.toml"
    config.write_text(config.read_text().replace("budget = 10.0", "budget = 120.0"))
    result = clone.push()
    assert not result.ok and "Traceback" not in result.stderr, result.stderr[-2000:]
    request_id = request_id_from(result.gate_lines)
    blobs = {
        path: oid
        for _, _, oid, path in (
            line.split(maxsplit=3) for line in clone.run("ls-tree", "-r", "HEAD").splitlines()
        )
        if path != "README.md"
    }
    assert len(blobs) == FILES + GUARDED

    alice = server.reviewer("alice")
    seen: dict[str, int] = {}
    path, number, sizes = f"/requests/{request_id}", 0, []
    while path:
        number += 1
        page = alice.page(path)
        assert page.status_code == 200
        sizes.append(len(page.content))
        assert len(page.content) <= PAGE_BYTES, (number, len(page.content))
        html = page.text
        shown = [unescape(name) for _, name in _FILE.findall(html)]
        assert 0 < len(shown) <= FILES_PER_PAGE, number
        for name in shown:
            assert name not in seen, f"{name} on pages {seen[name]} and {number}"
            seen[name] = number
            # Every file's blob id is on its page, whether or not its text was stored.
            assert blobs[name][:12] in html, (name, number)
        if number == 1:
            assert f"{FILES + GUARDED} changed files in all ({GUARDED} guarded)" in html
            first_page = html
        link = _NEXT.search(html)
        path = unescape(link.group(1)).removeprefix(server.url) if link else ""
    assert set(seen) == set(blobs), "every file is reachable through the page links"
    assert all(seen[f"train/t{n}.py"] == 1 for n in range(GUARDED))
    assert number >= FILES // FILES_PER_PAGE
    assert (
        "Not shown: the commit's diff is too large"
        in alice.page(f"/requests/{request_id}?page={number}").text
    )  # beyond the hook's patch budget: listed with blob ids, text not stored

    assert f"all {FILES + GUARDED} files on the {number} pages" in first_page
    decided = alice.decide(request_id, "approve", "read the guarded files")
    assert decided.status_code == 200 and "Your decision was recorded" in decided.text
    assert clone.push().ok
    assert remote_ref(gated.bare) == clone.head()
    print(f"pages {number}, HTML per page {min(sizes)}..{max(sizes)} bytes")
