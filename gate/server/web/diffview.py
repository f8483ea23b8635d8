"""Held commits' diffs made readable: per-file views, guarded files first, Pygments on the server.

Pure functions over the JSON the hook sent (gate.git.diffs.FileDiff as dicts); no database.
Stored rows are read defensively: rows written before the API validated bodies (gate.wire) can
hold any JSON, and a field of the wrong type shows as empty, never as an error page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from markupsafe import Markup, escape
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_for_filename
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

COLLAPSE_LINES = 300  # files with longer diffs start collapsed (still one click away)
MAX_HIGHLIGHT_CHARS = 200_000  # beyond this a file's diff is shown plain, to keep pages fast
MAX_PLAIN_COPY = 100_000  # patches up to this size also get a plain-text copy (copy, search)
_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


@dataclass
class Line:
    kind: str  # add | del | ctx | hunk | note
    old_no: int | None
    new_no: int | None
    html: Markup


@dataclass
class FileView:
    path: str
    old_path: str | None
    status: str
    old_mode: str
    new_mode: str
    guards: list[str]
    binary: bool
    too_large: bool
    truncated: bool
    additions: int
    deletions: int
    old_size: int
    new_size: int
    old_id: str
    new_id: str
    lines: list[Line] = field(default_factory=list)
    plain: str = ""  # the unified diff as text, for copying and searching, when small enough
    patch: str = ""  # the stored patch text, highlighted into ``lines`` by ``show_patch``

    @property
    def collapsed(self) -> bool:
        return len(self.lines) > COLLAPSE_LINES

    @property
    def mode_changed(self) -> bool:
        return self.old_mode != self.new_mode and self.status not in ("added", "deleted")


@dataclass
class DiffView:
    parent: str | None
    truncated: bool
    files: list[FileView]
    unreadable: int = 0  # stored file entries that are not objects (rows from before gate.wire)


def highlight_css() -> str:
    return _css()


@lru_cache(maxsize=1)
def _css() -> str:
    return HtmlFormatter(style="default").get_style_defs(".hl")


def _lexer(path: str) -> Lexer:
    try:
        return get_lexer_for_filename(path, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return TextLexer(stripnl=False, ensurenl=False)


def _css_class(ttype: Any) -> str:
    while ttype is not None:
        name = STANDARD_TYPES.get(ttype)
        if name is not None:
            return name
        ttype = ttype.parent
    return ""


def highlight_lines(path: str, code: list[str]) -> list[Markup]:
    """Each line of ``code`` as HTML with Pygments token classes (escaped, one per input line)."""
    text = "\n".join(code)
    if len(text) > MAX_HIGHLIGHT_CHARS:
        return [escape(line) for line in code]
    out: list[list[str]] = [[]]
    for ttype, value in _lexer(path).get_tokens(text):
        css = _css_class(ttype)
        for index, chunk in enumerate(value.split("\n")):
            if index:
                out.append([])
            if chunk:
                out[-1].append(
                    f'<span class="{css}">{escape(chunk)}</span>' if css else escape(chunk)
                )
    lines = [Markup("".join(parts)) for parts in out[: len(code)]]
    lines += [Markup("")] * (len(code) - len(lines))
    return lines


def patch_lines(path: str, patch: str) -> list[Line]:
    """The hunks of a unified diff (git's file header dropped), numbered and highlighted."""
    raw = patch.split("\n")
    if raw and raw[-1] == "":
        raw.pop()
    start = next((i for i, line in enumerate(raw) if line.startswith("@@")), len(raw))
    body = raw[start:]
    code_index = [i for i, line in enumerate(body) if line[:1] in ("+", "-", " ")]
    highlighted = highlight_lines(path, [body[i][1:] for i in code_index])
    html_for = dict(zip(code_index, highlighted, strict=True))
    lines: list[Line] = []
    old_no = new_no = 0
    for index, line in enumerate(body):
        if line.startswith("@@"):
            match = _HUNK.match(line)
            if match:
                old_no, new_no = int(match.group(1)), int(match.group(2))
            lines.append(Line("hunk", None, None, escape(line)))
        elif line.startswith("+"):
            lines.append(Line("add", None, new_no, html_for[index]))
            new_no += 1
        elif line.startswith("-"):
            lines.append(Line("del", old_no, None, html_for[index]))
            old_no += 1
        elif line.startswith(" "):
            lines.append(Line("ctx", old_no, new_no, html_for[index]))
            old_no, new_no = old_no + 1, new_no + 1
        else:
            lines.append(Line("note", None, None, escape(line)))
    return lines


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _count(value: Any) -> int:
    """A stored count: a whole number of at least 0; anything else (text, Infinity read back
    as a float, a list) shows as 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def stored_guards(value: Any) -> dict[str, list[str]]:
    """A held item's guards (guard -> paths), keeping only what has the right types."""
    if not isinstance(value, dict):
        return {}
    return {
        guard: [p for p in paths if isinstance(p, str)] if isinstance(paths, list) else []
        for guard, paths in value.items()
        if isinstance(guard, str)
    }


def stored_signals(value: Any) -> list[dict[str, str]]:
    """A held item's agent signals, each a mapping of text to text."""
    if not isinstance(value, list):
        return []
    return [
        {k: v for k, v in signal.items() if isinstance(v, str)}
        for signal in value
        if isinstance(signal, dict)
    ]


def _file_view(entry: dict[str, Any], guard_paths: dict[str, set[str]]) -> FileView:
    path = _text(entry.get("path"))
    old_path = entry.get("old_path") if isinstance(entry.get("old_path"), str) else None
    guards = sorted(
        guard for guard, paths in guard_paths.items() if path in paths or old_path in paths
    )
    view = FileView(
        path=path,
        old_path=old_path,
        status=_text(entry.get("status")),
        old_mode=_text(entry.get("old_mode")),
        new_mode=_text(entry.get("new_mode")),
        guards=guards,
        binary=entry.get("binary") is True,
        too_large=entry.get("too_large") is True,
        truncated=entry.get("truncated") is True,
        additions=_count(entry.get("additions")),
        deletions=_count(entry.get("deletions")),
        old_size=_count(entry.get("old_size")),
        new_size=_count(entry.get("new_size")),
        old_id=_text(entry.get("old_id")),
        new_id=_text(entry.get("new_id")),
    )
    patch = entry.get("patch")
    if isinstance(patch, str) and not view.binary:
        view.patch = patch
    return view


def show_patch(view: FileView) -> None:
    """Highlight a file's stored patch into its lines (and keep a plain copy when small): the
    costly part of a page, so done only for the files a page shows."""
    if view.patch and not view.lines:
        view.lines = patch_lines(view.path, view.patch)
        if len(view.patch) <= MAX_PLAIN_COPY:
            view.plain = view.patch


def diff_views(diffs: Any, guards: Any, *, highlight: bool = True) -> list[DiffView]:
    """One view per parent; in each, guarded files first, then the rest, each by path; every
    patch highlighted unless ``highlight`` is false (see ``show_patch``). Entries of the wrong
    type are left out (see the module's note on stored rows)."""
    guard_paths = {guard: set(paths) for guard, paths in stored_guards(guards).items()}
    views = []
    for diff in diffs if isinstance(diffs, list) else []:
        if not isinstance(diff, dict):
            continue
        entries = diff.get("files")
        entries = entries if isinstance(entries, list) else []
        files = [_file_view(entry, guard_paths) for entry in entries if isinstance(entry, dict)]
        if highlight:
            for view in files:
                show_patch(view)
        files.sort(key=lambda f: (not f.guards, f.path))
        parent = diff.get("parent")
        views.append(
            DiffView(
                parent if isinstance(parent, str) else None,
                diff.get("truncated") is True,
                files,
                len(entries) - len(files),
            )
        )
    return views
