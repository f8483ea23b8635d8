"""The git objects that make a held commit: picked by the hook, checked by the server.

The server shows reviewers only what it can check against the commit id, so the hook sends
objects, not diffs (gate.wire.commit_item): the raw commit, its parents' raw commits, every
tree on the paths the commit changes against each parent (both root trees included) and the
changed blobs. The server recomputes each id from the bytes, walks the trees itself and renders
the diff from those objects alone (gate.server.content). Both sides hash the objects the same
way (``content_sha256``), and an approval binds that hash: the hook lets a commit through only
when the hash the server approved is the one of what the hook itself read.

The blobs sent are a function of the commit alone, never of the rest of the push (the hash must
be the same whenever the commit is pushed): in git's diff order, parent by parent, each changed
blob within gate.wire.MAX_SENT_BLOB, while the commit's blobs stay within MAX_SENT_PER_COMMIT.

Stdlib only; the hook's objects are read with git's own plumbing (gate.git.plumbing).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from gate.errors import GateError
from gate.git.plumbing import Git, parse_raw_diff
from gate.wire import MAX_SENT_BLOB, MAX_SENT_PER_COMMIT

ZERO_ID = "0" * 40
TREE = 0o040000
BLOB = 0o100644
EXECUTABLE = 0o100755
SYMLINK = 0o120000
GITLINK = 0o160000
_TYPE_BITS = 0o170000


def object_id(kind: str, data: bytes) -> str:
    """The SHA-1 object id git gives ``data`` as a ``kind`` object ("<type> <len>\\0" + data)."""
    return hashlib.sha1(b"%s %d\0" % (kind.encode("ascii"), len(data)) + data).hexdigest()


def content_sha256(objects: Iterable[tuple[str, bytes]]) -> str:
    """SHA-256 over the objects in id order, each as git stores it ("<type> <len>\\0<data>")."""
    digest = hashlib.sha256()
    for _, kind, data in sorted((object_id(kind, data), kind, data) for kind, data in objects):
        digest.update(b"%s %d\0" % (kind.encode("ascii"), len(data)))
        digest.update(data)
    return digest.hexdigest()


def canon_mode(mode: int) -> int:
    """The mode git compares and shows for a tree entry's mode (cache.h canon_mode)."""
    kind = mode & _TYPE_BITS
    if kind == 0o100000:
        return EXECUTABLE if mode & 0o100 else BLOB
    if kind in (SYMLINK, TREE):
        return kind
    return GITLINK


@dataclass(frozen=True)
class TreeEntry:
    name: bytes
    mode: int  # canonical (canon_mode)
    oid: str

    @property
    def is_tree(self) -> bool:
        return self.mode == TREE


def _order(name: bytes, mode: int) -> bytes:
    """git's tree order: names compared as bytes, a tree's as if it ended in "/"."""
    return name + b"/" if mode == TREE else name


def parse_tree(data: bytes) -> list[TreeEntry]:
    """A raw tree object's entries; ValueError unless it is well formed and in git's order
    with no name twice (what ``git fsck`` requires: a tree git reads one way and gate another
    is refused, not guessed at)."""
    entries: list[TreeEntry] = []
    names: set[bytes] = set()
    pos, previous = 0, b""
    while pos < len(data):
        space = data.find(b" ", pos)
        nul = data.find(b"\0", space + 1)
        if space < 0 or nul < 0 or nul + 21 > len(data):
            raise ValueError("a truncated tree entry")
        digits = data[pos:space]
        if not digits or digits.strip(b"01234567") or len(digits) > 7:
            raise ValueError(f"a bad mode {digits[:10]!r}")
        name = data[space + 1 : nul]
        if not name or b"/" in name or name in (b".", b".."):
            raise ValueError(f"a bad entry name {name[:60]!r}")
        mode = canon_mode(int(digits, 8))
        key = _order(name, mode)
        if key <= previous or name in names:
            raise ValueError(f"entries out of order or repeated at {name[:60]!r}")
        previous = key
        names.add(name)
        entries.append(TreeEntry(name, mode, data[nul + 1 : nul + 21].hex()))
        pos = nul + 21
    return entries


def encode_tree(entries: Iterable[TreeEntry]) -> bytes:
    """The raw tree object of ``entries`` (any order), as git writes it."""
    ordered = sorted(entries, key=lambda e: _order(e.name, e.mode))
    return b"".join(
        b"%o %s\0" % (entry.mode, entry.name) + bytes.fromhex(entry.oid) for entry in ordered
    )


# The hook's side: what to send for each held commit ------------------------------------


class UnsupportedObjectFormat(GateError):
    """A repository whose object ids are not SHA-1: its held commits cannot be sent (the
    server checks SHA-1 ids), so they are refused; trying again changes nothing."""

    advice = (
        "gate: Agent changes to guarded paths are refused in this repository; human pushes, "
        "and agent pushes outside guarded paths, are not affected. Nothing was changed.",
        "gate: Ask your gate admin: gate guards SHA-1 repositories (git's default object "
        "format); `gate doctor` names the problem.",
    )


@dataclass(frozen=True)
class CommitObjects:
    commit: str
    objects: list[tuple[str, bytes]]  # (type, raw bytes): what the hold sends
    content_sha256: str


def held_objects(git: Git, commits: list[tuple[str, str, tuple[str, ...]]]) -> list[CommitObjects]:
    """For each (commit id, tree id, parent ids), the objects its hold sends.

    One ``diff-tree --stdin`` lists every changed tree and blob (against each parent, or the
    empty tree for a root commit), one ``cat-file --batch-check`` sizes the blobs and one
    ``cat-file --batch`` reads everything sent.
    """
    if any(len(oid) != 40 for oid, _, _ in commits):
        raise UnsupportedObjectFormat(
            "this repository uses SHA-256 object ids, and gate supports SHA-1 repositories "
            "only: it cannot show a reviewer what these commits change"
        )
    changed = _changed_objects(git, [oid for oid, _, _ in commits])
    candidates = {blob for _, blobs in changed.values() for blob in blobs}
    sizes = git.object_sizes(blob.encode("ascii") for blob in candidates)
    wanted: dict[str, list[tuple[str, str]]] = {}  # commit -> [(type, id)]
    for oid, tree, parents in commits:
        trees, blobs = changed.get(oid, ([], []))
        chosen: list[tuple[str, str]] = [("commit", oid), *(("commit", p) for p in parents)]
        chosen.append(("tree", tree))
        chosen += [("tree", t) for t in trees]
        total = 0
        for blob in blobs:
            size = sizes[blob.encode("ascii")]
            if size <= MAX_SENT_BLOB and total + size <= MAX_SENT_PER_COMMIT:
                chosen.append(("blob", blob))
                total += size
        wanted[oid] = list(dict.fromkeys(chosen))
    # the parents' trees: read from the parents' commits, which are read first
    parent_ids = {p for _, _, parents in commits for p in parents}
    parent_raw = git.read_objects(p.encode("ascii") for p in parent_ids)
    parent_tree = {p.decode("ascii"): _tree_of(raw) for p, (_, raw) in parent_raw.items()}
    for oid, _, parents in commits:
        wanted[oid] += [("tree", parent_tree[p]) for p in parents]
        wanted[oid] = list(dict.fromkeys(wanted[oid]))
    found = git.read_objects(
        dict.fromkeys(o.encode("ascii") for ids in wanted.values() for _, o in ids)
    )
    result = []
    for oid, _, _ in commits:
        objects = []
        for kind, object_oid in wanted[oid]:
            got_kind, data = found[object_oid.encode("ascii")]
            if got_kind.decode("ascii") != kind:
                raise GateError(f"gate: {object_oid} is a {got_kind.decode()}, not a {kind}")
            objects.append((kind, data))
        result.append(CommitObjects(oid, objects, content_sha256(objects)))
    return result


def _tree_of(raw_commit: bytes) -> str:
    first = raw_commit.split(b"\n", 1)[0]
    if not first.startswith(b"tree "):
        raise GateError("gate: a parent commit has no tree")
    return first[5:].decode("ascii")


def _changed_objects(git: Git, commit_ids: list[str]) -> dict[str, tuple[list[str], list[str]]]:
    """Per commit: the trees and the blobs (gitlinks are not objects here) on either side of
    each change, against every parent, in git's diff order."""
    from gate.git.plumbing import ChangedPaths

    lister = ChangedPaths(git.env, trees=True)
    lister.add(oid.encode("ascii") for oid in commit_ids)
    found: dict[str, tuple[list[str], list[str]]] = {}
    for oid, changes in parse_raw_diff(lister.finish_raw()).items():
        trees: list[str] = []
        blobs: list[str] = []
        for change in changes:
            for mode, side in ((change.old_mode, change.old_id), (change.new_mode, change.new_id)):
                if side == ZERO_ID:
                    continue
                kind = canon_mode(int(mode, 8))
                if kind == TREE:
                    trees.append(side)
                elif kind != GITLINK:
                    blobs.append(side)
        found[oid.decode("ascii")] = (list(dict.fromkeys(trees)), list(dict.fromkeys(blobs)))
    return found
