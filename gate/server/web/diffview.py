"""Held commits' diffs made readable: per-file views, guarded files first, Pygments on the server.

Pure functions over the diffs the server rendered from verified objects (gate.server.diffs.FileDiff
as dicts); no database.
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
    not_sent: bool
    additions: int
    deletions: int
    old_size: int
    new_size: int
    old_id: str
    new_id: str
    lines: list[Line] = field(default_factory=list)
    plain: str = ""  # the unified diff as text, for copying and searching, when small enough

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


def _file_view(entry: dict[str, Any], guard_paths: dict[str, set[str]]) -> FileView:
    path = str(entry.get("path", ""))
    old_path = entry.get("old_path")
    guards = sorted(
        guard for guard, paths in guard_paths.items() if path in paths or old_path in paths
    )
    view = FileView(
        path=path,
        old_path=old_path,
        status=str(entry.get("status", "")),
        old_mode=str(entry.get("old_mode", "")),
        new_mode=str(entry.get("new_mode", "")),
        guards=guards,
        binary=bool(entry.get("binary")),
        too_large=bool(entry.get("too_large")),
        truncated=bool(entry.get("truncated")),
        not_sent=bool(entry.get("not_sent")),
        additions=int(entry.get("additions") or 0),
        deletions=int(entry.get("deletions") or 0),
        old_size=int(entry.get("old_size") or 0),
        new_size=int(entry.get("new_size") or 0),
        old_id=str(entry.get("old_id", "")),
        new_id=str(entry.get("new_id", "")),
    )
    patch = entry.get("patch")
    if isinstance(patch, str) and patch and not view.binary:
        view.lines = patch_lines(path, patch)
        if len(patch) <= MAX_PLAIN_COPY:
            view.plain = patch
    return view


def diff_views(diffs: list[dict[str, Any]], guards: dict[str, list[str]]) -> list[DiffView]:
    """One view per parent; in each, guarded files first, then the rest, each by path."""
    guard_paths = {guard: set(paths) for guard, paths in (guards or {}).items()}
    views = []
    for diff in diffs or []:
        files = [_file_view(entry, guard_paths) for entry in diff.get("files", [])]
        files.sort(key=lambda f: (not f.guards, f.path))
        views.append(DiffView(diff.get("parent"), bool(diff.get("truncated")), files))
    return views
