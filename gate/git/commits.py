"""Parse git's raw commit objects into small typed records.

The git side reads commits as raw bytes (``git rev-list --header`` or pygit2's ``read_raw``)
so that odd encodings never raise: text is decoded as UTF-8 (or the commit's declared
``encoding``), falling back to replacement characters, and the raw bytes stay available.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_PERSON = re.compile(rb"^(?P<name>.*?) ?<(?P<email>[^>]*)> ?(?P<when>\d+)? ?(?P<tz>[+-]\d{4})?$")
# A trailer line: "Token: value", token made of letters, digits and hyphens (git's rule).
_TRAILER = re.compile(r"^(?P<key>[A-Za-z0-9][A-Za-z0-9-]*)\s*:\s*(?P<value>.*)$")


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    time: int = 0
    offset: str = "+0000"

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


@dataclass(frozen=True)
class Commit:
    id: str
    tree: str
    parents: tuple[str, ...]
    author: Person
    committer: Person
    message: str
    trailers: tuple[tuple[str, str], ...] = field(default=())

    @property
    def summary(self) -> str:
        return self.message.split("\n", 1)[0]

    @property
    def is_merge(self) -> bool:
        return len(self.parents) > 1


def decode_text(raw: bytes, encoding: str = "utf-8") -> str:
    """Decode commit text without ever raising; undecodable bytes become U+FFFD."""
    try:
        return raw.decode(encoding)
    except (LookupError, UnicodeDecodeError):
        return raw.decode("utf-8", errors="replace")


def decode_path(raw: bytes) -> str:
    """Decode a path for matching; undecodable bytes survive as surrogates (round-trippable)."""
    return raw.decode("utf-8", errors="surrogateescape")


def display_path(path: str) -> str:
    """A path made safe to print: surrogates and control characters escaped."""
    text = path.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="backslashreplace")
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def parse_person(raw: bytes, encoding: str = "utf-8") -> Person:
    match = _PERSON.match(raw.strip())
    if not match:
        return Person(name=decode_text(raw, encoding), email="")
    return Person(
        name=decode_text(match["name"], encoding).strip(),
        email=decode_text(match["email"], encoding).strip(),
        time=int(match["when"] or 0),
        offset=(match["tz"] or b"+0000").decode("ascii"),
    )


def parse_trailers(message: str) -> tuple[tuple[str, str], ...]:
    """The trailers of the message's last paragraph, as git interpret-trailers sees them.

    The last paragraph counts as a trailer block when every non-continuation line in it is a
    ``Key: value`` line (git also accepts blocks that are at least 25% trailers when one of them
    is a git-generated one; we accept any block that is mostly trailers, which is a superset).
    """
    paragraphs = [p for p in re.split(r"\n\s*\n", message.strip()) if p.strip()]
    if len(paragraphs) < 2:
        return ()
    lines = paragraphs[-1].splitlines()
    found: list[tuple[str, str]] = []
    other = 0
    for line in lines:
        if line[:1] in (" ", "\t") and found:
            key, value = found[-1]
            found[-1] = (key, f"{value} {line.strip()}")
            continue
        match = _TRAILER.match(line)
        if match:
            found.append((match["key"], match["value"].strip()))
        else:
            other += 1
    if not found or other > len(found):
        return ()
    return tuple(found)


def parse_commit(oid: str, raw: bytes) -> Commit:
    """Parse the body of a git commit object (headers, blank line, message)."""
    header, _, message = raw.partition(b"\n\n")
    tree = ""
    parents: list[str] = []
    author_raw = committer_raw = b""
    encoding = "utf-8"
    for line in header.split(b"\n"):
        if line.startswith(b" "):  # continuation of a multi-line header (gpgsig, mergetag)
            continue
        key, _, value = line.partition(b" ")
        if key == b"tree":
            tree = value.decode("ascii", errors="replace")
        elif key == b"parent":
            parents.append(value.decode("ascii", errors="replace"))
        elif key == b"author":
            author_raw = value
        elif key == b"committer":
            committer_raw = value
        elif key == b"encoding":
            encoding = value.decode("ascii", errors="replace").strip() or "utf-8"
    text = decode_text(message, encoding)
    return Commit(
        id=oid,
        tree=tree,
        parents=tuple(parents),
        author=parse_person(author_raw, encoding),
        committer=parse_person(committer_raw, encoding),
        message=text,
        trailers=parse_trailers(text),
    )
