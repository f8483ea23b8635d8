"""A request's page cut into pages of bounded size, whatever the hold's size.

A hold may carry 20,000 commits, or one commit of 10,000 files; shown whole, its page was
megabytes of HTML and seconds of highlighting per view. Every file of every held item gets a
place in one order: the files that match a guard first (in item order), then the rest. That
order is cut into pages of at most FILES_PER_PAGE files, ITEMS_PER_PAGE items and
PATCH_PER_PAGE characters of patch text (a page always shows at least one file), so page 1
holds the guarded files when there are not more of them than fit. Only the files a page shows
are highlighted. Items with no file (ref deletions and rewrites, commits with no stored diff)
come with the guarded files, since they are what the hold is about.

Pages are for reading: an approval covers the whole request (its content SHA-256 binds every
item), wherever it is given from, and each page says how many files and items exist and which
it shows. The server cannot tell whether a reviewer read a page, so requiring a visit to every
page would prove nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gate.server.web.diffview import DiffView, FileView, show_patch

FILES_PER_PAGE = 200
ITEMS_PER_PAGE = 50
PATCH_PER_PAGE = 512 * 1024  # characters of patch text highlighted on one page
MESSAGE_SHOWN = 20_000  # characters of a commit message shown; the rest is in git
SIGNALS_SHOWN = 20  # agent signals listed per item (the summary lists at most 50 in all)


@dataclass(frozen=True)
class _Slot:
    item: int  # index into the request's items
    view: int  # index into that item's diff views (-1: the item itself, when it has no file)
    file: FileView | None


@dataclass
class ItemOnPage:
    item: Any  # a HeldItem
    number: int  # its place in the request, from 1
    first: bool  # this is the first page that shows it (its message is shown here)
    views: list[tuple[DiffView, list[FileView]]] = field(default_factory=list)


@dataclass
class RequestPage:
    number: int
    pages: int
    items: list[ItemOnPage]
    item_count: int
    file_count: int
    guarded_count: int
    shown_files: int
    first_file: int  # the place of this page's first file in the order, from 1 (0: none)
    guarded_pages: int  # guarded files are on pages 1 to this

    @property
    def last_file(self) -> int:
        return self.first_file + self.shown_files - 1 if self.shown_files else 0


def _order(views_of: list[list[DiffView]]) -> list[_Slot]:
    guarded: list[_Slot] = []
    rest: list[_Slot] = []
    for index, views in enumerate(views_of):
        slots = [
            _Slot(index, number, file) for number, view in enumerate(views) for file in view.files
        ]
        guarded += [slot for slot in slots if slot.file and slot.file.guards]
        rest += [slot for slot in slots if slot.file and not slot.file.guards]
        if not slots:
            guarded.append(_Slot(index, -1, None))
    return guarded + rest


def _cut(order: list[_Slot]) -> list[list[_Slot]]:
    pages: list[list[_Slot]] = []
    page: list[_Slot] = []
    items: set[int] = set()
    files = patch = 0
    for slot in order:
        size = len(slot.file.patch) if slot.file else 0
        full = (
            files + (slot.file is not None) > FILES_PER_PAGE
            or (slot.item not in items and len(items) >= ITEMS_PER_PAGE)
            or patch + size > PATCH_PER_PAGE
        )
        if page and full:
            pages.append(page)
            page, items, files, patch = [], set(), 0, 0
        page.append(slot)
        items.add(slot.item)
        files += slot.file is not None
        patch += size
    return [*pages, page] if page else pages or [[]]


def request_page(items: list[Any], views_of: list[list[DiffView]], number: int) -> RequestPage:
    """Page ``number`` (clamped to the pages there are) of a request whose items have the
    given diff views (``diff_views(..., highlight=False)``); highlights its files only."""
    order = _order(views_of)
    pages = _cut(order)
    number = min(max(1, number), len(pages))
    before = [slot for page in pages[: number - 1] for slot in page]
    seen = {slot.item for slot in before}
    shown: dict[int, ItemOnPage] = {}
    for slot in pages[number - 1]:
        on_page = shown.get(slot.item)
        if on_page is None:
            on_page = shown[slot.item] = ItemOnPage(
                items[slot.item], slot.item + 1, slot.item not in seen
            )
        if slot.file is None:
            continue
        show_patch(slot.file)
        view = views_of[slot.item][slot.view]
        listed = next((files for shown_view, files in on_page.views if shown_view is view), None)
        if listed is None:
            on_page.views.append((view, [slot.file]))
        else:
            listed.append(slot.file)
    files = [slot.file for slot in order if slot.file is not None]
    guarded = [file for file in files if file.guards]
    guarded_pages = max(
        (n for n, page in enumerate(pages, 1) if any(s.file and s.file.guards for s in page)),
        default=0,
    )
    shown_files = sum(slot.file is not None for slot in pages[number - 1])
    return RequestPage(
        number=number,
        pages=len(pages),
        items=sorted(shown.values(), key=lambda on_page: on_page.number),
        item_count=len(items),
        file_count=len(files),
        guarded_count=len(guarded),
        shown_files=shown_files,
        first_file=sum(slot.file is not None for slot in before) + 1 if shown_files else 0,
        guarded_pages=guarded_pages,
    )
