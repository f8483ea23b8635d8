"""Commits that git shows as an agent's but that a looser reader took for a human's.

Each is a real push into a gated repository; before pushing, the test checks that git itself
(``git log --format``) shows the agent's mark, so the attack is what a reviewer would see.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.support.gitrepo import WorkClone, remote_ref
from tests.support.server import GatedRepo, request_id_from

pytestmark = pytest.mark.e2e

HUMAN = b"Dana Human <dana@example.com> 1700000000 +0000"


def seeded(gated: GatedRepo, fsck: bool = False) -> WorkClone:
    """The gated repository with one commit. install-hook turns on receive.fsckObjects, which
    refuses most of these objects before any hook runs; gate must read them as git does where
    fsck is off (a host that does not set it), so it is off here unless ``fsck``."""
    for key in ("receive.fsckObjects", "transfer.fsckObjects"):
        value = "true" if fsck else "false"
        subprocess.run(["git", "--git-dir", str(gated.bare), "config", key, value], check=True)
    clone = gated.clone()
    clone.commit("initial", {"README.md": "hello\n", "train/loop.py": "steps = 1\n"})
    assert clone.push().ok
    return clone


def write_raw(
    clone: WorkClone, headers: list[bytes], message: bytes, parent: str | None = None
) -> str:
    """Commit the change to train/loop.py as exactly these header lines and message bytes."""
    clone.write("train/loop.py", "steps = 2\n")
    clone.run("add", "-A")
    tree = clone.run("write-tree")
    parent = parent or clone.head()
    raw = b"\n".join([b"tree " + tree.encode(), b"parent " + parent.encode(), *headers])
    sha = (
        subprocess.run(
            ["git", "hash-object", "-t", "commit", "--literally", "-w", "--stdin"],
            cwd=clone.path,
            input=raw + b"\n\n" + message,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )
    clone.run("update-ref", "HEAD", sha)
    return sha


def git_shows(clone: WorkClone, fmt: str) -> str:
    return clone.run("log", "-1", f"--format={fmt}")


def assert_held(gated: GatedRepo, clone: WorkClone, sha: str, agent: str) -> None:
    before = remote_ref(gated.bare)
    result = clone.push()
    assert not result.ok, "an agent's commit to train/ must be held"
    assert remote_ref(gated.bare) == before, "a refused push must leave the repository unchanged"
    text = "\n".join(result.gate_lines)
    assert sha[:12] in text and agent in text, text
    assert request_id_from(result.gate_lines) > 0


def test_author_with_two_addresses_is_read_as_git_reads_it(gated: GatedRepo) -> None:
    clone = seeded(gated)
    author = b"Cursor Agent <cursoragent@cursor.com> <dana@example.com> 1700000000 +0000"
    sha = write_raw(clone, [b"author " + author, b"committer " + HUMAN], b"Tune steps\n")
    assert git_shows(clone, "%ae") == "cursoragent@cursor.com"
    assert_held(gated, clone, sha, "Cursor")


def test_fsck_that_install_hook_turns_on_refuses_the_object_before_any_hook(
    gated: GatedRepo,
) -> None:
    clone = seeded(gated, fsck=True)
    author = b"Cursor Agent <cursoragent@cursor.com> <dana@example.com> 1700000000 +0000"
    write_raw(clone, [b"author " + author, b"committer " + HUMAN], b"Tune steps\n")
    before = remote_ref(gated.bare)
    result = clone.push()
    assert not result.ok and "fsck" in result.stderr and not result.gate_lines, result.stderr
    assert remote_ref(gated.bare) == before


def test_false_utf16_encoding_header_does_not_hide_the_address(gated: GatedRepo) -> None:
    clone = seeded(gated)
    author = b"author Cursor Agent <cursoragent@cursor.com> 1700000000 +0000"
    headers = [author, b"committer " + HUMAN, b"encoding UTF-16"]
    # iconv fails on an odd number of bytes, and git then shows the ASCII as it is; the
    # trailing space is one byte that git's own log output drops (so gate reads raw objects)
    parent = clone.head()
    for message in (b"Tune steps \n", b"Tune steps. \n"):
        sha = write_raw(clone, headers, message, parent)
        if git_shows(clone, "%ae") == "cursoragent@cursor.com":
            break
    else:
        pytest.fail("git shows neither variant's address")
    assert_held(gated, clone, sha, "Cursor")


def test_false_utf16_encoding_header_that_leaves_git_showing_no_one_is_refused(
    gated: GatedRepo,
) -> None:
    clone = seeded(gated)
    author = b"author Cursor Agent <cursoragent@cursor.com> 1700000000 +0000"
    headers = [author, b"committer " + HUMAN, b"encoding UTF-16"]
    # the other parity: iconv turns the whole object into noise and git shows no author
    parent = clone.head()
    for message in (b"Tune steps \n", b"Tune steps. \n"):
        write_raw(clone, headers, message, parent)
        if git_shows(clone, "%ae%an") == "":
            break
    else:
        pytest.fail("git shows an author for both variants")
    before = remote_ref(gated.bare)
    result = clone.push()
    assert not result.ok, "a commit nobody can attribute must not land"
    assert remote_ref(gated.bare) == before, "a refused push must leave the repository unchanged"
    text = "\n".join(result.gate_lines)
    assert "leaves git showing no author" in text and "push refused" in text, text


def test_claude_trailer_in_a_mostly_free_text_block_with_sign_off(gated: GatedRepo) -> None:
    clone = seeded(gated)
    message = (
        b"Tune steps\n\n"
        b"Signed-off-by: Dana Human <dana@example.com>\n"
        b"This line is free text.\n"
        b"So is this one.\n"
        b"And this one.\n"
        b"Co-Authored-By: Claude <noreply@anthropic.com>\n"
    )
    sha = write_raw(clone, [b"author " + HUMAN, b"committer " + HUMAN], message)
    assert "Claude <noreply@anthropic.com>" in git_shows(clone, "%(trailers:only,unfold)")
    assert_held(gated, clone, sha, "Claude Code")


def test_claude_trailer_followed_by_a_verbatim_comment_paragraph(gated: GatedRepo) -> None:
    clone = seeded(gated)
    clone.write("train/loop.py", "steps = 2\n")
    clone.run("add", "-A")
    message = "Tune steps\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n\n# kept by verbatim\n"
    clone.run("commit", "--quiet", "--cleanup=verbatim", "-m", message)
    sha = clone.head()
    assert "# kept by verbatim" in git_shows(clone, "%B")
    assert "Claude <noreply@anthropic.com>" in git_shows(clone, "%(trailers:only,unfold)")
    assert_held(gated, clone, sha, "Claude Code")
