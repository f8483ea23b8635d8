"""Held commits' diffs made readable: per-file views, guarded files first, Pygments on the server.

Pure functions over the diffs the server rendered from verified objects
(gate.server.diffs.FileDiff as dicts); no database.
Stored rows are read defensively: rows written before the API validated bodies (gate.wire) can
hold any JSON, and a field of the wrong type shows as empty, never as an error page.

The reviewer must see every character that changed, so the table has exactly the lines of the
plain patch: lines end only at git's line end, ``\n``. Pygments' own entry point turns a lone CR
into a line end, which once split ``import os\r# looks harmless`` in two and pushed the file's
last line out of the table; here the lexer only labels the text, the labels must cover it
exactly, and anything else is shown unhighlighted. Characters that show nothing or change how
the text around them is drawn (control characters, bidi controls, line and paragraph
separators, zero-width and other default-ignorable code points, spaces other than U+0020,
U+FFFD where the patch was not UTF-8) are replaced by a marked escape such as ``\r``, ``\u202e``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from markupsafe import Markup, escape
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_for_filename
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

from gate.server.diffs import file_guards, stored_guards

COLLAPSE_LINES = 300  # files with longer diffs start collapsed (still one click away)
MAX_HIGHLIGHT_CHARS = 200_000  # beyond this a file's diff is shown plain, to keep pages fast
MAX_PLAIN_COPY = 100_000  # patches up to this size also get a plain-text copy (copy, search)
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
CONTEXT_SHOWN = 500  # hidden lines one "show hidden lines" expands, at most


@dataclass
class Line:
    kind: str  # add | del | ctx | hunk | note
    old_no: int | None
    new_no: int | None
    html: Markup
    hunk: int = -1  # a hunk line: its place among the file's hunks, from 0


@dataclass(frozen=True)
class Hunk:
    """One hunk's header: where it starts on each side and how many lines it covers."""

    old_start: int
    old_count: int
    new_start: int
    new_count: int

    @property
    def new_end(self) -> int:
        return self.new_start + self.new_count - 1 if self.new_count else self.new_start

    @property
    def old_end(self) -> int:
        return self.old_start + self.old_count - 1 if self.old_count else self.old_start


def hunks_of(patch: str) -> list[Hunk]:
    """The hunk headers of a unified diff, in order."""
    found = []
    for line in patch.split("\n"):
        match = _HUNK.match(line) if line.startswith("@@") else None
        if match:
            old, old_count, new, new_count = match.groups()
            found.append(
                Hunk(
                    int(old),
                    1 if old_count is None else int(old_count),
                    int(new),
                    1 if new_count is None else int(new_count),
                )
            )
    return found


def hidden_before(hunks: list[Hunk], index: int) -> tuple[int, int, int]:
    """The unchanged lines hidden before hunk ``index`` (``len(hunks)``: after the last one,
    up to the end of the file, unknown here: 0 for the last line), as (first new line, last
    new line, new minus old line number); first > last when none are hidden."""
    if index < len(hunks):
        hunk = hunks[index]
        # A side of no lines names the line before the hunk (git's convention), not its first.
        new_first = hunk.new_start + (0 if hunk.new_count else 1)
        old_first = hunk.old_start + (0 if hunk.old_count else 1)
        first = hunks[index - 1].new_end + 1 if index else 1
        return first, new_first - 1, new_first - old_first
    last = hunks[-1]
    return last.new_end + 1, 0, last.new_end - last.old_end


def context_lines(path: str, text: str, first: int, last: int, shift: int) -> list[Line]:
    """Lines ``first`` to ``last`` (new side, from 1) of a file's text as unchanged lines,
    numbered on both sides (``shift``: new minus old line number), highlighted like the diff."""
    code = text.split("\n")
    if code and code[-1] == "":
        code.pop()
    last = min(last, len(code))
    if first > last:
        return []
    shown = code[first - 1 : last]
    return [
        Line("ctx", number - shift, number, html)
        for number, html in zip(range(first, last + 1), highlight_lines(path, shown), strict=True)
    ]


@dataclass
class SplitRow:
    """A row of the side-by-side view: the old line on the left, the new on the right."""

    kind: str  # hunk | note | change | ctx
    left: Line | None
    right: Line | None


def split_rows(lines: list[Line]) -> list[SplitRow]:
    """The unified lines side by side: a run of deletions paired with the additions after it,
    line for line; unchanged lines on both sides; headers across."""
    rows: list[SplitRow] = []
    deleted: list[Line] = []
    added: list[Line] = []

    def flush() -> None:
        for n in range(max(len(deleted), len(added))):
            rows.append(
                SplitRow(
                    "change",
                    deleted[n] if n < len(deleted) else None,
                    added[n] if n < len(added) else None,
                )
            )
        deleted.clear()
        added.clear()

    for line in lines:
        if line.kind == "del":
            if added:
                flush()
            deleted.append(line)
        elif line.kind == "add":
            added.append(line)
        else:
            flush()
            rows.append(SplitRow(line.kind, line, line))
    flush()
    return rows


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
    patch: str = ""  # the stored patch text, highlighted into ``lines`` by ``show_patch``

    @property
    def path_html(self) -> Markup:
        return visible(self.path)

    @property
    def old_path_html(self) -> Markup:
        return visible(self.old_path or "")

    @property
    def hidden_chars(self) -> int:
        """How many characters of the shown lines are drawn as escapes."""
        return sum(line.html.count('<span class="hidden-char"') for line in self.lines)

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


# Default-ignorable code points (Unicode's DerivedCoreProperties) that are not format (Cf) or
# unassigned (Cn), which the categories below catch: they render as nothing.
_INVISIBLE_RANGES = (
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul choseong and jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian free variation selectors and vowel separator
    (0x2800, 0x2800),  # braille blank, drawn as a space
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xFFFD, 0xFFFD),  # the replacement character: bytes that were not UTF-8
    (0xE0100, 0xE01EF),  # variation selectors supplement
)
# Control, format (bidi controls, zero-width), line and paragraph separators, private use,
# surrogates (undecodable bytes), unassigned; and spaces, of which only U+0020 is left as is.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Zs", "Co", "Cs", "Cn"})
_SHORT_ESCAPES = {"\0": "\\0", "\a": "\\a", "\b": "\\b", "\v": "\\v", "\f": "\\f", "\r": "\\r"}


@lru_cache(maxsize=4096)
def is_hidden(char: str) -> bool:
    """Whether ``char`` would not be seen as itself in the diff table (tab and space are)."""
    if char in "\t ":
        return False
    code = ord(char)
    if code < 0x7F:
        return code < 0x20
    if unicodedata.category(char) in _HIDDEN_CATEGORIES:
        return True
    return any(low <= code <= high for low, high in _INVISIBLE_RANGES)


def escape_of(char: str) -> str:
    """How a hidden character is written in the table: ``\\r``, ``\\x1b``, ``\\u202e``."""
    code = ord(char)
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def visible(text: str) -> Markup:
    """``text`` escaped for HTML, each hidden character replaced by a marked escape.

    The mark carries the code point (``data-cp``, hexadecimal) and its name, so the page keeps
    every character while drawing none of them raw.
    """
    if text.isascii() and text.isprintable():
        return escape(text)
    parts: list[str] = []
    plain_from = 0
    for index, char in enumerate(text):
        if is_hidden(char):
            parts.append(escape(text[plain_from:index]))
            label = f"U+{ord(char):04X} {unicodedata.name(char, '')}".rstrip()
            parts.append(
                f'<span class="hidden-char" data-cp="{ord(char):x}" title="{escape(label)}">'
                f"{escape(escape_of(char))}</span>"
            )
            plain_from = index + 1
    parts.append(escape(text[plain_from:]))
    return Markup("".join(parts))


def visible_text(text: str) -> Markup:
    """Text a person wrote (a line comment), escaped with hidden characters marked as in the
    diff, its line breaks kept as breaks."""
    return Markup("<br>").join(visible(line) for line in text.split("\n"))


def _labelled(path: str, text: str) -> list[tuple[str, str]]:
    """(css class, text) pieces that join to exactly ``text``: Pygments' tokens, or one plain
    piece when the text is too large or the lexer would add, drop or change a character."""
    if len(text) > MAX_HIGHLIGHT_CHARS:
        return [("", text)]
    pieces: list[tuple[str, str]] = []
    covered = 0
    try:
        # get_tokens() would first turn CR and CRLF into LF (and strip, expand tabs); the
        # unprocessed stream is the lexer's reading of the text as it is.
        for start, ttype, value in _lexer(path).get_tokens_unprocessed(text):
            if start != covered or not text.startswith(value, start):
                return [("", text)]
            covered += len(value)
            pieces.append((_css_class(ttype), value))
    except Exception:  # a lexer that fails on odd input: the text is still shown, plain
        return [("", text)]
    return pieces if covered == len(text) else [("", text)]


def highlight_lines(path: str, code: list[str]) -> list[Markup]:
    """Each line of ``code`` as HTML with Pygments token classes: one per input line, always."""
    if not code:
        return []
    out: list[list[str]] = [[]]
    for css, value in _labelled(path, "\n".join(code)):
        for index, chunk in enumerate(value.split("\n")):
            if index:
                out.append([])
            if chunk:
                html = visible(chunk)
                out[-1].append(f'<span class="{css}">{html}</span>' if css else html)
    if len(out) != len(code):  # cannot happen: the pieces join to the text
        raise AssertionError(f"highlighting gave {len(out)} lines for {len(code)}")
    return [Markup("".join(parts)) for parts in out]


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
    hunks = 0
    for index, line in enumerate(body):
        if line.startswith("@@"):
            match = _HUNK.match(line)
            if match:
                old_no, new_no = int(match.group(1)), int(match.group(3))
                lines.append(Line("hunk", None, None, visible(line), hunks))
                hunks += 1
            else:
                lines.append(Line("hunk", None, None, visible(line)))
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
            lines.append(Line("note", None, None, visible(line)))
    return lines


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _count(value: Any) -> int:
    """A stored count: a whole number of at least 0; anything else (text, Infinity read back
    as a float, a list) shows as 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


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
    guards = file_guards(path, old_path, guard_paths)
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
        not_sent=entry.get("not_sent") is True,
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
