"""Line numbers for TOML text that tomllib accepted, so every problem names its line."""

from __future__ import annotations

import bisect
import contextlib
from typing import Any

KeyPath = tuple[str | int, ...]


_BARE_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class SourceMap:
    """Line numbers of the tables, keys and array elements in TOML text that tomllib accepted.

    Paths are tuples as in the parsed document: ``("guard", 0, "paths", 2)`` is the third
    pattern of the first ``[[guard]]``. Best effort: on anything unexpected it keeps what it
    found so far, and ``line`` falls back to the nearest enclosing entry.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.lines: dict[KeyPath, int] = {}
        self._newlines = [index for index, char in enumerate(text) if char == "\n"]
        self._arrays_of_tables: dict[KeyPath, int] = {}
        with contextlib.suppress(IndexError, ValueError, RecursionError):  # TOMLDecodeError too
            self._document()

    def line(self, path: KeyPath) -> int | None:
        """The line of ``path``, else of its nearest recorded parent, else None."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None

    def _line_at(self, pos: int) -> int:
        return bisect.bisect_left(self._newlines, pos) + 1

    def _peek(self, count: int = 1) -> str:
        return self.text[self.pos : self.pos + count]

    def _skip_blank(self, newlines: bool) -> None:
        spaces = " \t\r\n" if newlines else " \t"
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in spaces:
                self.pos += 1
            elif char == "#" and newlines:
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end == -1 else end
            else:
                return

    def _document(self) -> None:
        table: KeyPath = ()
        while True:
            self._skip_blank(newlines=True)
            if self.pos >= len(self.text):
                return
            line = self._line_at(self.pos)
            if self._peek(2) == "[[":
                self.pos += 2
                table = self._resolve(self._key(), array=True)
                self.pos += 2
                self._record_prefixes(table, line)
            elif self._peek() == "[":
                self.pos += 1
                table = self._resolve(self._key(), array=False)
                self.pos += 1
                self._record_prefixes(table, line)
            else:
                self._key_value(table)
            self._skip_blank(newlines=False)

    def _record_prefixes(self, path: KeyPath, line: int) -> None:
        for depth in range(1, len(path) + 1):
            self.lines.setdefault(path[:depth], line)

    def _resolve(self, key: KeyPath, array: bool) -> KeyPath:
        out: list[str | int] = []
        for index, part in enumerate(key):
            out.append(part)
            prefix = tuple(out)
            if array and index == len(key) - 1:
                count = self._arrays_of_tables.get(prefix, 0)
                self._arrays_of_tables[prefix] = count + 1
                out.append(count)
            elif prefix in self._arrays_of_tables:
                out.append(self._arrays_of_tables[prefix] - 1)
        return tuple(out)

    def _key(self) -> KeyPath:
        start = self.pos
        while True:
            self._skip_blank(newlines=False)
            char = self._peek()
            if char in ('"', "'"):
                self._string()
            else:
                while self.pos < len(self.text) and self.text[self.pos] in _BARE_KEY_CHARS:
                    self.pos += 1
            self._skip_blank(newlines=False)
            if self._peek() != ".":
                break
            self.pos += 1
        return _decode_key(self.text[start : self.pos])

    def _key_value(self, table: KeyPath) -> None:
        line = self._line_at(self.pos)
        key = self._key()
        self._record_prefixes(table + key, line)
        self.pos += 1  # '='
        self._skip_blank(newlines=False)
        self._value(table + key)

    def _value(self, path: KeyPath) -> None:
        char = self._peek()
        if char == "[":
            self._array(path)
        elif char == "{":
            self._inline_table(path)
        elif char in ('"', "'"):
            self._string()
        else:
            while self.pos < len(self.text) and self.text[self.pos] not in ",]}#\r\n":
                self.pos += 1

    def _array(self, path: KeyPath) -> None:
        self.pos += 1
        index = 0
        while True:
            self._skip_blank(newlines=True)
            if self._peek() == "]":
                self.pos += 1
                return
            self.lines.setdefault((*path, index), self._line_at(self.pos))
            self._value((*path, index))
            index += 1
            self._skip_blank(newlines=True)
            if self._peek() == ",":
                self.pos += 1

    def _inline_table(self, path: KeyPath) -> None:
        self.pos += 1
        while True:
            self._skip_blank(newlines=False)
            if self._peek() == "}":
                self.pos += 1
                return
            self._key_value(path)
            self._skip_blank(newlines=False)
            if self._peek() == ",":
                self.pos += 1

    def _string(self) -> None:
        for quote in ('"""', "'''", '"', "'"):
            if self.text.startswith(quote, self.pos):
                break
        escapes = quote[0] == '"'
        index = self.pos + len(quote)
        while not self.text.startswith(quote, index):
            if index >= len(self.text):
                raise ValueError("unterminated string")
            index += 2 if escapes and self.text[index] == "\\" else 1
        index += len(quote)
        if len(quote) == 3:  # up to two quotes may end the content: """a""""
            extra = 0
            while extra < 2 and self.text.startswith(quote[0], index):
                index, extra = index + 1, extra + 1
        self.pos = index


def _decode_key(raw: str) -> KeyPath:
    """The parts of a (dotted, quoted) TOML key, decoded by tomllib itself."""
    import tomllib

    node: Any = tomllib.loads(f"{raw} = 0")
    parts: list[str | int] = []
    while isinstance(node, dict):
        ((name, node),) = node.items()
        parts.append(name)
    return tuple(parts)
