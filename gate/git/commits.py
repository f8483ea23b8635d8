"""Read git's raw commit objects exactly as git itself shows them.

Agents choose the bytes of their commits, so every rule here is git's own (v2.39): which
``author`` line counts and how it splits into name and address (ident.c ``split_ident_line``,
pretty.c), how a declared ``encoding`` re-encodes the whole object to UTF-8 (pretty.c
``logmsg_reencode``, through the same iconv git uses), and which lines of the message are
trailers (trailer.c with the default configuration: those git log lists, then any that only
``git interpret-trailers`` lists, above a ``---`` line). Whatever git shows as an agent's mark,
gate reads too; tests/git/test_commits_git.py checks this against git on generated objects.

Text is decoded from the bytes git would print: invalid UTF-8 becomes U+FFFD, never an error.
No ``re``: a push that reaches the exact stage and holds nothing need not import it (issue 10),
and git's rules here are plain scans (``find``, ``lstrip``), at C speed all the same.
"""

from __future__ import annotations

from gate.errors import GateError
from gate.git.values import Frozen, _set

# git's locale-independent ctype (ctype.c): only these four bytes are space, only ASCII is alnum.
_SPACE = b" \t\n\r"
_DIGITS = b"0123456789"
# A trailer's token bytes (trailer.c find_separator: alnum or "-").
_TOKEN = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" + _DIGITS + b"-"
_COMMENT = b"#"  # core.commentChar's default
_SEPARATORS = b":"  # trailer.separators' default
_GIT_GENERATED = (b"Signed-off-by: ", b"(cherry picked from commit ")
_CUT_LINE = b"# ------------------------ >8 ------------------------\n"
SIGNATURE_HEADERS = (b"gpgsig", b"gpgsig-sha256")


class Person(Frozen):
    __slots__ = _fields = ("name", "email", "time", "offset")
    name: str
    email: str
    time: int
    offset: str

    def __init__(self, name: str, email: str, time: int = 0, offset: str = "+0000") -> None:
        _set(self, "name", name)
        _set(self, "email", email)
        _set(self, "time", time)
        _set(self, "offset", offset)

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class Commit(Frozen):
    __slots__ = _fields = (
        "id",
        "tree",
        "parents",
        "author",
        "committer",
        "message",
        "trailers",
        "paragraph_trailers",
    )
    id: str
    tree: str
    parents: tuple[str, ...]
    author: Person
    committer: Person
    message: str
    trailers: tuple[tuple[str, str], ...]
    # Trailers of the paragraphs above the last one, each read as git reads a last paragraph
    # (see paragraph_trailers): where tools and squash merges leave marks git's block lacks.
    paragraph_trailers: tuple[tuple[str, str], ...]

    def __init__(
        self,
        id: str,
        tree: str,
        parents: tuple[str, ...],
        author: Person,
        committer: Person,
        message: str,
        trailers: tuple[tuple[str, str], ...] = (),
        paragraph_trailers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        _set(self, "id", id)
        _set(self, "tree", tree)
        _set(self, "parents", parents)
        _set(self, "author", author)
        _set(self, "committer", committer)
        _set(self, "message", message)
        _set(self, "trailers", trailers)
        _set(self, "paragraph_trailers", paragraph_trailers)

    @property
    def marks(self) -> tuple[tuple[str, str], ...]:
        """Every trailer an agent's mark is read from: git's block, then earlier paragraphs'."""
        return self.trailers + self.paragraph_trailers

    @property
    def summary(self) -> str:
        return self.message.split("\n", 1)[0]

    @property
    def is_merge(self) -> bool:
        return len(self.parents) > 1


def is_signed(raw: bytes) -> bool:
    """Whether a raw commit object carries a signature header (gate.git.signing checks it)."""
    header = raw.partition(b"\n\n")[0]
    return any(header.startswith(name + b" ") or b"\n" + name + b" " in header
               for name in SIGNATURE_HEADERS)  # fmt: skip


def decode_text(raw: bytes) -> str:
    """Text as a terminal shows git's output: invalid UTF-8 becomes U+FFFD, never an error."""
    return raw.decode("utf-8", errors="replace")


def decode_path(raw: bytes) -> str:
    """Decode a path for matching; undecodable bytes survive as surrogates (round-trippable)."""
    return raw.decode("utf-8", errors="surrogateescape")


def display_path(path: str) -> str:
    """A path made safe to print: surrogates and control characters escaped."""
    text = path.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="backslashreplace")
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _strip(raw: bytes) -> bytes:
    return raw.strip(_SPACE)


# --- identities (ident.c split_ident_line) ---------------------------------------------


def _ident(raw: bytes) -> tuple[bytes, bytes] | None:
    """(name, address) of an ident: up to the first "<", then up to the first ">" after it,
    neither across a newline (``([^<\\n]*)<([^>\\n]*)>`` at the start); None without."""
    lt = raw.find(b"<")
    if lt < 0 or b"\n" in raw[:lt]:
        return None
    gt = raw.find(b">", lt + 1)
    if gt < 0 or b"\n" in raw[lt + 1 : gt]:
        return None
    return raw[:lt], raw[lt + 1 : gt]


def _date(raw: bytes, start: int) -> tuple[bytes, bytes] | None:
    """After an ident's last ">": the date, then the zone (ident.c split_ident_line), each
    after optional blanks (``[ \\t\\n\\r]*([0-9]+)[ \\t\\n\\r]*([+-][0-9]+)``); None without."""
    text = raw[start:].lstrip(_SPACE)
    rest = text.lstrip(_DIGITS)
    digits = text[: len(text) - len(rest)]
    rest = rest.lstrip(_SPACE)
    if not digits or rest[:1] not in (b"+", b"-"):
        return None
    zone = rest[1:]
    after = zone.lstrip(_DIGITS)
    if len(after) == len(zone):
        return None
    return digits, rest[: 1 + len(zone) - len(after)]


def parse_person(raw: bytes) -> Person:
    """An ``author``/``committer`` value as git's ``%an %ae %at`` read it.

    The address is what lies between the first ``<`` and the first ``>`` after it, the name
    what comes before that ``<`` (trailing spaces dropped); the date follows the last ``>``.
    Without a ``<...>`` git shows neither name nor address, and neither does this.
    """
    ident = _ident(raw)
    if ident is None:
        return Person(name="", email="")
    time, offset = 0, "+0000"
    date = _date(raw, raw.rfind(b">") + 1)
    if date:
        digits, offset = date[0], date[1].decode("ascii")
        # git shows a date past its timestamp type as 0 (ident.c show_ident_date)
        time = int(digits) if len(digits) <= 19 and int(digits) < 2**63 else 0
    return Person(
        name=ident[0].rstrip(_SPACE).decode("utf-8", "replace"),
        email=ident[1].decode("utf-8", "replace"),
        time=time,
        offset=offset,
    )


# --- encodings (pretty.c logmsg_reencode, utf8.c reencode_string_len) ----------------------


def _same_utf(a: bytes, b: bytes) -> bool:
    if a[:3].lower() != b"utf" or b[:3].lower() != b"utf":
        return False
    a, b = a[3:], b[3:]
    return a.removeprefix(b"-").lower() == b.removeprefix(b"-").lower()


def _header_end(buffer: bytes) -> int:
    """Offset of the empty line that ends the header (its length when there is none)."""
    if buffer.startswith(b"\n"):
        return 0
    found = buffer.find(b"\n\n")
    return len(buffer) if found < 0 else found + 1


def _header(buffer: bytes, key: bytes) -> bytes | None:
    """The first ``key value`` header line's value (commit.c find_commit_header)."""
    head = buffer[: _header_end(buffer)]
    if not head.startswith(key + b" ") and b"\n" + key + b" " not in head:
        return None
    for line in head.split(b"\n"):
        if line.startswith(key + b" "):
            return line[len(key) + 1 :]
    return None


def _drop_encoding_header(buffer: bytes) -> bytes:
    """Re-coded to UTF-8: git removes the first ``encoding`` line of the header."""
    start = 0
    while not buffer.startswith(b"encoding ", start):
        newline = buffer.find(b"\n", start)
        if newline < 0 or buffer[newline + 1 : newline + 2] in (b"\n", b""):
            return buffer
        start = newline + 1
    end = buffer.find(b"\n", start)
    return buffer if end < 0 else buffer[:start] + buffer[end + 1 :]


def git_view(raw: bytes) -> bytes:
    """The commit object as git's log formats read it: cut at the first NUL (git treats it as
    a C string) and re-encoded to UTF-8 from its declared ``encoding``; when the conversion
    fails git shows the bytes unchanged, header and all."""
    nul = raw.find(b"\0")
    buffer = raw if nul < 0 else raw[:nul]
    encoding = _header(buffer, b"encoding")
    if encoding is None:
        return buffer
    if not _same_utf(encoding, b"UTF-8") and encoding.lower() != b"utf-8":
        converted = _to_utf8(buffer, encoding)
        if converted is None:
            return buffer
        buffer = converted.split(b"\0", 1)[0]
    return _drop_encoding_header(buffer)


def _to_utf8(data: bytes, encoding: bytes) -> bytes | None:
    """``data`` converted from ``encoding`` by the C library's iconv, as git converts it, or
    None where git gives up (an unknown name, a byte invalid in that encoding)."""
    if _same_utf(encoding, b"UTF-16LE-BOM"):
        encoding = b"UTF-16"  # git reads both the same
    iconv = _Iconv.get()
    converter = iconv.open(encoding)
    if converter is None:
        converter = iconv.open(_fallback_encoding(encoding))
        if converter is None:
            return None
    try:
        return iconv.convert(converter, data)
    finally:
        iconv.close(converter)


class _Iconv:
    """The C library's iconv through ctypes: Python's codecs differ from it (names, UTF-16
    without a byte-order mark), and only the converter git itself calls reads like git."""

    _instance: _Iconv | None = None

    @classmethod
    def get(cls) -> _Iconv:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def __init__(self) -> None:
        import ctypes
        import ctypes.util

        self.ctypes = ctypes
        library = ctypes.CDLL(None, use_errno=True)
        if not hasattr(library, "iconv_open"):
            path = ctypes.util.find_library("iconv")
            if path is None:
                raise GateError("no iconv library to read a commit's declared encoding")
            library = ctypes.CDLL(path, use_errno=True)
        self._open = library.iconv_open
        self._open.restype = ctypes.c_void_p
        self._open.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        self._iconv = library.iconv
        self._iconv.restype = ctypes.c_size_t
        pointer, size = ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t)
        self._iconv.argtypes = [ctypes.c_void_p, pointer, size, pointer, size]
        self._close = library.iconv_close
        self._close.argtypes = [ctypes.c_void_p]
        self._failed = ctypes.c_void_p(-1).value

    def open(self, encoding: bytes) -> int | None:
        handle = self._open(b"UTF-8", encoding)
        return None if handle is None or handle == self._failed else handle

    def close(self, handle: int) -> None:
        self._close(handle)

    def convert(self, handle: int, data: bytes) -> bytes | None:
        import errno

        ctypes = self.ctypes
        source = ctypes.create_string_buffer(data, len(data))
        in_at = ctypes.c_void_p(ctypes.addressof(source))
        in_left = ctypes.c_size_t(len(data))
        size = 4 * len(data) + 16
        target = ctypes.create_string_buffer(size)
        out = bytearray()
        while True:
            out_at = ctypes.c_void_p(ctypes.addressof(target))
            out_left = ctypes.c_size_t(size)
            result = self._iconv(
                handle,
                ctypes.byref(in_at),
                ctypes.byref(in_left),
                ctypes.byref(out_at),
                ctypes.byref(out_left),
            )
            written = size - out_left.value
            out += target.raw[:written]
            if result != ctypes.c_size_t(-1).value:
                return bytes(out)
            if ctypes.get_errno() != errno.E2BIG:
                return None  # git keeps the original bytes on any other error
            if not written:  # not even one character fitted: never loop without progress
                size *= 2
                target = ctypes.create_string_buffer(size)


def _fallback_encoding(name: bytes) -> bytes:
    """The spelling git retries with when iconv does not know the one in the commit."""
    if _same_utf(name, b"utf-8"):
        return b"UTF-8"
    if name.lower() == b"latin-1":
        return b"ISO-8859-1"
    return name


# --- trailers (trailer.c, default configuration) ----------------------------------------


def _lines(buffer: bytes) -> list[bytes]:
    """Lines split at LF only, each with its newline; the last one possibly without."""
    parts = buffer.split(b"\n")
    lines = [part + b"\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _is_blank(line: bytes) -> bool:
    return not line.strip(_SPACE)


def _separator_at(line: bytes | bytearray) -> int:
    """Where ``Token: ...`` has its separator, ``-1`` if the line is not shaped so: token
    bytes, optional blanks, ":" (``(?:[A-Za-z0-9-]+[ \\t]*)?:`` at the start)."""
    rest = line.lstrip(_TOKEN)
    if len(rest) < len(line):
        rest = rest.lstrip(b" \t")
    elif line[:1] == b":":
        return 0
    return len(line) - len(rest) if rest[:1] == b":" else -1


def _cutoff(body: bytes, lines: list[bytes]) -> int:
    """Index of a scissors line, which ends what can hold trailers (wt_status_locate_end)."""
    if body.startswith(_CUT_LINE):
        return 0
    found = body.find(b"\n" + _CUT_LINE)
    return len(lines) if found < 0 else body.count(b"\n", 0, found + 1)


def _trailer_end(lines: list[bytes], cutoff: int) -> int:
    """Index where trailing comment and blank lines (and an old ``Conflicts:`` block) begin
    (commit.c ignore_non_trailer; like git, a comment run starting at line 0 is not one)."""
    start_of_comments = 0
    in_conflicts = False
    for index in range(cutoff):
        line = lines[index]
        if line[:1] in (_COMMENT, b"\n"):
            if not start_of_comments:
                start_of_comments = index
        elif line.startswith(b"Conflicts:\n"):
            in_conflicts = True
            if not start_of_comments:
                start_of_comments = index
        elif in_conflicts and line[:1] == b"\t":
            pass
        elif start_of_comments:
            start_of_comments = 0
            in_conflicts = False
    return start_of_comments or cutoff


def _trailer_start(lines: list[bytes], end: int) -> int:
    """Index of the trailer block's first line (``end`` if none): the last paragraph when all
    of it is trailers, or when a quarter is and one line is git-generated (``Signed-off-by``)."""
    end_of_title = end
    for index in range(end):
        line = lines[index]
        if line[:1] != _COMMENT and _is_blank(line):
            end_of_title = index
            break
    only_spaces = True
    recognized = False
    trailers = non_trailers = continuations = 0
    for index in range(end - 1, end_of_title - 1, -1):
        line = lines[index]
        if line[:1] == _COMMENT:
            non_trailers += continuations
            continuations = 0
            continue
        if _is_blank(line):
            if only_spaces:
                continue
            non_trailers += continuations
            if recognized and trailers * 3 >= non_trailers:
                return index + 1
            if trailers and not non_trailers:
                return index + 1
            return end
        only_spaces = False
        if line.startswith(_GIT_GENERATED):
            trailers += 1
            continuations = 0
            recognized = True
        elif _separator_at(line) >= 1 and line[0] not in _SPACE:
            trailers += 1
            continuations = 0
        elif line[0] in _SPACE:
            continuations += 1
        else:
            non_trailers += 1 + continuations
            continuations = 0
    return end


def _unfold(value: bytes) -> bytes:
    """A continued value on one line: each newline and the blanks after it become a space."""
    return _strip(_fold(value)) if b"\n" in value else value


def _fold(value: bytes) -> bytes:
    """Each newline and the blanks after it (newlines too) as one space."""
    out = []
    start = 0
    while True:
        newline = value.find(b"\n", start)
        if newline < 0:
            out.append(value[start:])
            return b" ".join(out)
        out.append(value[start:newline])
        start = len(value) - len(value[newline + 1 :].lstrip(_SPACE))


def _patch_start(lines: list[bytes]) -> int:
    """Index of the first ``---`` divider line (where a mailed patch begins), else the end."""
    for index, line in enumerate(lines):
        if line.startswith(b"---") and line[3:4] != b"" and line[3] in _SPACE:
            return index
    return len(lines)


def parse_trailers(body: bytes, *, divider: bool = False) -> tuple[tuple[bytes, bytes], ...]:
    """The trailers git lists for a message from its subject on, as (key, value).

    By default as git's log formats read a commit (``%(trailers:only,unfold)``), where a
    ``---`` line is text; with ``divider`` as ``git interpret-trailers --parse`` reads it,
    stopping at the first ``---`` line as at a mailed patch.
    """
    if b":" not in body:
        return ()  # no line can be a trailer
    lines = _lines(body)
    length = _patch_start(lines) if divider else len(lines)
    # git 2.39 loops forever on a scissors line below the divider: stop at the divider
    end = _trailer_end(lines, min(_cutoff(body, lines), length))
    entries: list[bytearray] = []
    extendable = False
    for line in lines[_trailer_start(lines, end) : end]:
        if extendable and line[:1] in _SPACE:
            entries[-1] += line
            continue
        entries.append(bytearray(line))
        extendable = _separator_at(line) >= 1
    found = []
    for entry in entries:
        at = _separator_at(entry)
        if at >= 1:
            found.append((_strip(bytes(entry[:at])), _unfold(_strip(bytes(entry[at + 1 :])))))
    return tuple(found)


def paragraph_trailers(body: bytes) -> tuple[tuple[bytes, bytes], ...]:
    """The trailers of each paragraph after the first, read as git reads a last paragraph.

    git lists only the last paragraph's trailers, but marks sit higher up too: a GitHub squash
    merge keeps each squashed commit's message, trailers and all, above the co-authors it
    appends. Each paragraph is parsed as if it ended a message with a subject above it, so a
    paragraph counts only when git would take it for a trailer block.
    """
    paragraphs: list[list[bytes]] = [[]]
    for line in _lines(body):
        if not _is_blank(line):
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    found: list[tuple[bytes, bytes]] = []
    for paragraph in paragraphs[1:]:  # the first is the subject's
        text = b"".join(paragraph)
        if b":" in text:
            found += parse_trailers(b"subject\n\n" + text)
    return tuple(dict.fromkeys(found))


# --- the commit ---------------------------------------------------------------------------


def _skip_blank_lines(buffer: bytes, start: int) -> int:
    """Offset of the first non-blank line from ``start``, the empty line ending the header."""
    if buffer[start + 1 : start + 2] not in _SPACE:  # the usual: a subject right after
        return start + 1
    while start < len(buffer):
        newline = buffer.find(b"\n", start)
        end = len(buffer) if newline < 0 else newline + 1
        if not _is_blank(buffer[start:end]):
            break
        start = end
    return start


def _people(head: bytes) -> tuple[bytes, bytes]:
    """The author and committer values of a header; the last of each wins, as in pretty.c."""
    author = committer = b""
    for line in head.split(b"\n"):
        if line.startswith(b"author "):
            author = line[7:]
        elif line.startswith(b"committer "):
            committer = line[10:]
    return author, committer


def _has_idents(author: bytes, committer: bytes) -> bool:
    return _ident(author) is not None and _ident(committer) is not None


def parse_commit(oid: str, raw: bytes) -> Commit:
    """Read a raw commit object (``git cat-file commit``) the way git shows it.

    The tree and the parents are the object's structure, read from the raw bytes; the people,
    the message and the trailers are git's display of it (``%an %ae %B %(trailers)``).
    Raises GateError when a declared encoding leaves git showing no author or committer.
    """
    structure = raw.split(b"\n\n", 1)[0].split(b"\n")
    tree = ""
    parents: list[str] = []
    if structure[0].startswith(b"tree "):
        tree = structure[0][5:].decode("ascii", errors="replace")
        for line in structure[1:]:
            if not line.startswith(b"parent "):
                break
            parents.append(line[7:].decode("ascii", errors="replace"))
    view = git_view(raw)
    offset = _header_end(view)
    author, committer = _people(view[:offset])
    shown = raw.split(b"\0", 1)[0]  # what git reads before converting
    if not _has_idents(author, committer) and _has_idents(*_people(shown[: _header_end(shown)])):
        # the declared encoding garbles the header (an even-length ASCII object "in UTF-16"):
        # git shows no one, or reads past its buffer, and nobody can tell whose commit it is
        raise GateError(
            f"gate: commit {oid[:12]} declares an encoding that leaves git showing no author "
            "or committer; re-create it without the 'encoding' header."
        )
    # offset is at the newline that ends the header: the message follows it, and the
    # trailers are read from the first non-blank line on (pretty.c, %B and %(trailers))
    body = view[offset + 1 :]
    subject = view[_skip_blank_lines(view, offset) :]
    trailers = parse_trailers(subject)
    if subject.startswith(b"---") or b"\n---" in subject:
        # both of git's readings count: a trailer above a "---" line is one for
        # interpret-trailers (and tools that read commits as patches) though not for git log
        extra = [t for t in parse_trailers(subject, divider=True) if t not in trailers]
        trailers += tuple(extra)
    above = tuple(t for t in paragraph_trailers(subject) if t not in trailers)
    return Commit(
        id=oid,
        tree=tree,
        parents=tuple(parents),
        author=parse_person(author),
        committer=parse_person(committer),
        message=decode_text(body),
        trailers=tuple((decode_text(key), decode_text(value)) for key, value in trailers),
        paragraph_trailers=tuple((decode_text(key), decode_text(value)) for key, value in above),
    )
