"""gate.server.web.requestpage: the order and cut of a request's pages, on generated holds."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gate.server.web.diffview import diff_views
from gate.server.web.requestpage import (
    FILES_PER_PAGE,
    ITEMS_PER_PAGE,
    PATCH_PER_PAGE,
    request_page,
)


def held(n: int, files: list[tuple[str, int]], guarded: set[str]) -> tuple[Any, list[Any]]:
    """An item with one diff of ``files`` (path, patch characters), and its views."""
    entries = [{"path": p, "status": "added", "patch": "@@ -0,0 +1 @@\n" + "+" * size}
               for p, size in files]  # fmt: skip
    item = SimpleNamespace(id=n, key=f"{n:040x}")
    return item, diff_views([{"files": entries}], {"g": sorted(guarded)}, highlight=False)


HOLDS = st.lists(
    st.lists(
        st.tuples(st.sampled_from(["a", "train/x", "z"]), st.integers(0, 300_000)),
        min_size=0,
        max_size=40,
    ),
    min_size=1,
    max_size=70,
)


@settings(max_examples=60, deadline=None)
@given(holds=HOLDS, big=st.booleans())
def test_every_file_is_on_exactly_one_bounded_page_guarded_first(
    holds: list[list[tuple[str, int]]], big: bool
) -> None:
    items, views_of, expected = [], [], []
    for n, files in enumerate(holds):
        named = [(f"{path}{n}-{k}", size if big else size % 500) for k, (path, size) in
                 enumerate(files)]  # fmt: skip
        guarded = {path for path, _ in named if path.startswith("train/")}
        item, views = held(n, named, guarded)
        items.append(item)
        views_of.append(views)
        expected += [(n, path) for path, _ in named]
    first = request_page(items, views_of, 1)
    placed: list[tuple[int, str, bool, int]] = []
    for number in range(1, first.pages + 1):
        page = request_page(items, views_of, number)
        files = [(entry.number - 1, f) for entry in page.items for _, fs in entry.views for f in fs]
        assert len(files) <= FILES_PER_PAGE and len(page.items) <= ITEMS_PER_PAGE
        patch = sum(len(f.patch) for _, f in files)
        assert patch <= PATCH_PER_PAGE or len(files) == 1
        assert page.shown_files == len(files)
        placed += [(n, f.path, bool(f.guards), number) for n, f in files]
        assert all(f.lines or not f.patch for _, f in files), "the page's files are highlighted"
    assert sorted((n, p) for n, p, _, _ in placed) == sorted(expected)
    guarded_pages = [number for _, _, guarded, number in placed if guarded]
    other_pages = [number for _, _, guarded, number in placed if not guarded]
    if guarded_pages and other_pages:  # a page may end the guarded files and start the rest
        assert max(guarded_pages) <= min(other_pages), "guarded files before every other"
    assert first.guarded_pages == max(guarded_pages, default=0)
    no_files = {n for n, files in enumerate(holds) if not files}
    shown = {
        e.number - 1
        for k in range(1, first.pages + 1)
        for e in request_page(items, views_of, k).items
    }
    assert no_files <= shown and first.file_count == len(expected)


def test_pages_out_of_range_are_clamped_and_only_the_page_is_highlighted() -> None:
    item, views = held(0, [(f"a{n}", 10) for n in range(FILES_PER_PAGE + 5)], set())
    last = request_page([item], [views], 10**9)
    assert (last.number, last.pages, last.shown_files) == (2, 2, 5)
    assert last.first_file == FILES_PER_PAGE + 1 and last.last_file == FILES_PER_PAGE + 5
    assert not any(f.lines for f in views[0].files[:FILES_PER_PAGE])
    assert request_page([item], [views], 0).number == 1
