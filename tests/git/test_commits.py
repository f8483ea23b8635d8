"""parse_commit on hand-written objects: each rule of git's that a looser reader got wrong.

tests/git/test_commits_git.py checks the same reading against git on generated objects.
"""

from __future__ import annotations

import pytest

from gate.errors import GateError
from gate.git.catalog import co_authors, load_catalog
from gate.git.commits import Commit, parse_commit, parse_person

TREE = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
HUMAN = b"Dana Human <dana@example.com> 1700000000 +0000"
CLAUDE = (b"Co-Authored-By", b"Claude <noreply@anthropic.com>")


def commit(message: bytes, *headers: bytes, author: bytes = HUMAN) -> Commit:
    raw = TREE + b"author " + author + b"\ncommitter " + HUMAN + b"\n"
    return parse_commit("0" * 40, raw + b"".join(h + b"\n" for h in headers) + b"\n" + message)


def keys(c: Commit) -> list[tuple[bytes, bytes]]:
    return [(k.encode(), v.encode()) for k, v in c.trailers]


def test_the_first_address_of_an_author_line_is_the_one_git_shows():
    person = parse_person(b"Cursor Agent <cursoragent@cursor.com> <dev@example.com> 17 +0000")
    assert (person.name, person.email, person.time, person.offset) == (
        "Cursor Agent",
        "cursoragent@cursor.com",
        17,
        "+0000",
    )


def test_an_author_line_without_an_address_shows_no_one():
    assert (parse_person(b"Claude Code 1700000000 +0000").name, parse_person(b"x <y").email) == (
        "",
        "",
    )


def test_the_last_author_header_wins_as_in_git_log():
    c = commit(b"x\n", b"author Cursor Agent <cursoragent@cursor.com> 1 +0000")
    assert c.author.email == "cursoragent@cursor.com"


def test_an_ascii_object_falsely_declared_utf16_reads_as_git_shows_it():
    # an odd number of bytes: iconv cannot convert, and git shows them as they are; an even
    # number converts to CJK noise without a single header line, and git shows no author:
    # nobody can tell whose commit that is, so gate refuses to read it
    agent = b"A <cursoragent@cursor.com> 1 +0000"
    readings = []
    for message in (b"x\n", b"xy\n"):
        try:
            readings.append(commit(message, b"encoding UTF-16", author=agent).author.email)
        except GateError as exc:
            readings.append(str(exc))
    assert readings[0] == "cursoragent@cursor.com" or readings[1] == "cursoragent@cursor.com"
    assert any("leaves git showing no author" in reading for reading in readings)


def test_without_iconv_only_a_declared_encoding_fails_closed(monkeypatch: pytest.MonkeyPatch):
    import ctypes
    import ctypes.util

    from gate.git import commits

    class NoIconv:  # a C library that lacks iconv_open
        pass

    monkeypatch.setattr(commits._Iconv, "_instance", None)
    monkeypatch.setattr(ctypes, "CDLL", lambda *args, **kwargs: NoIconv())
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    assert commit(b"x\n", b"encoding UTF-8").author.email == "dana@example.com"
    with pytest.raises(GateError, match="no iconv library"):
        commit(b"Caf\xe9\n", b"encoding latin-1")


@pytest.mark.parametrize("encoding", [b"latin-1", b"ISO-8859-1", b"latin1"])
def test_a_declared_encoding_is_converted_to_utf8(encoding: bytes):
    c = commit(b"Caf\xe9\n", b"encoding " + encoding, author=b"Jos\xe9 <j@x> 1 +0000")
    assert (c.author.name, c.message) == ("José", "Café\n")


def test_an_unknown_encoding_leaves_the_bytes_as_git_does():
    c = commit(b"Caf\xc3\xa9\n", b"encoding x-no-such-charset")
    assert c.message == "Café\n"


def test_a_claude_trailer_in_a_quarter_trailer_block_with_a_sign_off_counts():
    body = b"T\n\nSigned-off-by: D <d@x>\nfree one\nfree two\nfree three\nCo-Authored-By: Claude <noreply@anthropic.com>\n"
    assert keys(commit(body))[-1] == CLAUDE
    # without the git-generated sign-off the block is not trailers at all
    assert keys(commit(body.replace(b"Signed-off-by", b"Reviewed-by"))) == []


def test_trailers_are_read_above_a_trailing_comment_paragraph():
    body = b"T\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n\n# kept by verbatim\n"
    assert keys(commit(body)) == [CLAUDE]


def test_continuation_lines_unfold_and_comment_lines_are_skipped():
    body = b"T\n\nCo-Authored-By: Claude\n  <noreply@anthropic.com>\n# note\nKey  :v\r\n"
    assert keys(commit(body)) == [CLAUDE, (b"Key", b"v")]


def test_a_divider_line_is_text_in_a_commit_as_in_git_log():
    body = b"T\n\n---\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n"
    assert keys(commit(body)) == [CLAUDE]


def test_a_scissors_line_ends_the_text_that_can_hold_trailers():
    body = b"T\n\nA: b\n# ------------------------ >8 ------------------------\nC: d\n"
    assert keys(commit(body)) == [(b"A", b"b")]


def test_text_after_a_nul_is_not_shown_by_git_nor_read():
    c = commit(b"T\n\nA: b\n\0Co-Authored-By: Claude <noreply@anthropic.com>\n")
    assert c.message == "T\n\nA: b\n" and keys(c) == [(b"A", b"b")]


def test_every_address_of_a_co_author_counts():
    assert co_authors("Claude <noreply@anthropic.com> <dana@example.com>") == [
        ("Claude", "noreply@anthropic.com"),
        ("Claude", "dana@example.com"),
    ]
    c = commit(b"T\n\nCo-authored-by: Dana <dana@example.com> <noreply@anthropic.com>\n")
    assert any(s.agent == "Claude Code" for s in load_catalog().match(c))


def test_a_trailer_above_a_divider_counts_as_interpret_trailers_reads_it():
    # git log sees one trailer-shaped line among text; interpret-trailers sees a trailer
    body = b"T\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n---\nnotes\n"
    assert keys(commit(body)) == [CLAUDE]
