"""Held commits' diffs rendered on the server, from verified objects only (gate.server.content).

libgit2 (pygit2) renders them, as it always has for gate, over an object database in memory
that holds nothing but the blobs the hook sent and two trees made here: for each parent, the
changed paths' old entries and their new entries (the ids git's trees give them, checked by
gate.server.content). Every unchanged path is left out of both, so the diff, rename detection
included, is the one between the commit's real trees, and libgit2 never needs an object that
was not sent. A changed path whose blob was not sent is never given to libgit2: it is listed
as "content not sent by the hook" (``not_sent``) with its verified ids and modes, no size.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import pygit2
from pygit2.enums import DeltaStatus, DiffFind, ObjectType

from gate.git.commits import display_path
from gate.git.objects import GITLINK, TREE, TreeEntry, encode_tree, object_id
from gate.server.patchid import stable_patch_id

MAX_FILE_PATCH = 256 * 1024  # bytes of patch text kept per file
MAX_COMMIT_PATCH = 2 * 1024 * 1024  # bytes of patch text kept per commit (all files, all parents)
MAX_CONTEXT_BLOB = 1024 * 1024  # text blobs up to this size are kept to expand context from


@dataclass(frozen=True)
class Change:
    """One path the commit changes against one parent; a side is None where it is absent."""

    path: bytes
    old: TreeEntry | None
    new: TreeEntry | None


def content_sent(side: TreeEntry | None, blobs: dict[str, bytes]) -> bool:
    """Whether one side of a change has its content among the verified ``blobs`` (an absent
    side and a submodule's commit have none to send)."""
    return side is None or side.mode == GITLINK or side.oid in blobs


_STATUS = {
    DeltaStatus.ADDED: "added",
    DeltaStatus.DELETED: "deleted",
    DeltaStatus.MODIFIED: "modified",
    DeltaStatus.RENAMED: "renamed",
    DeltaStatus.COPIED: "copied",
    DeltaStatus.TYPECHANGE: "typechange",
}


@dataclass
class FileDiff:
    path: str
    old_path: str | None
    status: str
    old_mode: str
    new_mode: str
    old_id: str
    new_id: str
    old_size: int
    new_size: int
    binary: bool = False
    too_large: bool = False  # holds from before the server rendered diffs (over 8 MiB)
    truncated: bool = False
    not_sent: bool = False  # a side's content was not sent: ids and modes only, no size
    additions: int = 0
    deletions: int = 0
    patch: str = ""


@dataclass
class CommitDiff:
    commit: str
    parent: str | None
    files: list[FileDiff] = field(default_factory=list)
    truncated: bool = False
    # ``git patch-id --stable`` of the whole diff, renames not detected (as for
    # ``git show --no-renames --full-index``; gate.server.patchid); None when a changed
    # path's content was not sent (the diff is not the commit's whole change) or it is empty.
    # Not part of the stored diff JSON: the held item keeps it in its own column.
    patch_id: str | None = None


class _Objects(pygit2.OdbBackend):
    """The in-memory object database: verified blobs and the trees made here."""

    def __init__(self, blobs: dict[str, bytes]) -> None:
        super().__init__()
        self.objects: dict[str, tuple[int, bytes]] = {
            oid: (ObjectType.BLOB, data) for oid, data in blobs.items()
        }

    def read_cb(self, oid: pygit2.Oid) -> tuple[int, bytes]:
        return self.objects[str(oid)]

    def read_header_cb(self, oid: pygit2.Oid) -> tuple[int, int]:
        kind, data = self.objects[str(oid)]
        return kind, len(data)

    def exists_cb(self, oid: pygit2.Oid) -> bool:
        return str(oid) in self.objects

    def read_prefix_cb(self, oid: pygit2.Oid) -> tuple[int, bytes, pygit2.Oid]:
        raise KeyError(str(oid))

    def exists_prefix_cb(self, oid: pygit2.Oid) -> pygit2.Oid:
        raise KeyError(str(oid))

    def refresh_cb(self) -> None:
        pass

    def __iter__(self) -> Any:
        return iter(pygit2.Oid(hex=oid) for oid in self.objects)

    def tree(self, entries: list[tuple[bytes, TreeEntry]]) -> str:
        """Store the tree holding ``entries`` (path -> entry) and the trees below it."""
        files: list[TreeEntry] = []
        below: dict[bytes, list[tuple[bytes, TreeEntry]]] = {}
        for path, entry in entries:
            head, slash, rest = path.partition(b"/")
            if slash:
                below.setdefault(head, []).append((rest, entry))
            else:
                files.append(TreeEntry(head, entry.mode, entry.oid))
        files += [TreeEntry(name, TREE, self.tree(sub)) for name, sub in below.items()]
        data = encode_tree(files)
        oid = object_id("tree", data)
        self.objects[oid] = (ObjectType.TREE, data)
        return oid


def render_diffs(
    commit_id: str, changes: list[tuple[str | None, list[Change]]], blobs: dict[str, bytes]
) -> list[CommitDiff]:
    """The commit's diff against each parent (None: the empty tree, for a root commit), from
    each parent's changed paths (gate.server.content.changed_entries) and the verified blobs."""
    store = _Objects(blobs)
    odb = pygit2.Odb()
    odb.add_backend(store, 1)
    repo = pygit2.Repository()
    repo.set_odb(odb)
    budget = [MAX_COMMIT_PATCH]
    return [
        _diff_against(repo, store, commit_id, parent, changed, blobs, budget)
        for parent, changed in changes
    ]


def _diff_against(
    repo: pygit2.Repository,
    store: _Objects,
    commit_id: str,
    parent: str | None,
    changed: list[Change],
    blobs: dict[str, bytes],
    budget: list[int],
) -> CommitDiff:
    shown = [c for c in changed if content_sent(c.old, blobs) and content_sent(c.new, blobs)]
    old = store.tree([(c.path, c.old) for c in shown if c.old is not None])
    new = store.tree([(c.path, c.new) for c in shown if c.new is not None])
    old_tree, new_tree = repo[old], repo[new]
    assert isinstance(old_tree, pygit2.Tree) and isinstance(new_tree, pygit2.Tree)
    diff = old_tree.diff_to_tree(new_tree)
    # Before renames are found: git's "similarity index" of a rename is its own estimate,
    # which libgit2's differs from, and the line is part of what a patch id hashes.
    patch_id = None if len(shown) < len(changed) else _patch_id(diff)
    diff.find_similar(DiffFind.FIND_RENAMES)
    entries: list[tuple[FileDiff, int | None]] = [
        (_file_entry(delta, blobs), index) for index, delta in enumerate(diff.deltas)
    ]
    unsent = [c for c in changed if c not in shown]
    entries += [(entry, None) for entry in _not_sent(unsent, blobs)]
    entries.sort(key=lambda pair: (pair[0].path, pair[0].old_path or ""))
    result = CommitDiff(commit=commit_id, parent=parent, patch_id=patch_id)
    for entry, index in entries:
        if index is None:  # content not sent: nothing to show
            pass
        elif budget[0] <= 0:
            entry.truncated = result.truncated = True
        else:
            _fill_patch(diff[index], entry)
            if not entry.binary:
                budget[0] -= len(entry.patch)
        result.files.append(entry)
    return result


def _patch_id(diff: pygit2.Diff) -> str | None:
    """The diff's stable patch id over git's text of it, as ``git show --no-renames
    --full-index`` prints it (a rename is a deletion and an addition): libgit2 abbreviates
    the ids of the ``index`` line, which count for binary files."""
    text = []
    for patch in diff:
        if patch is None:
            continue
        delta = patch.delta
        head, sep, rest = patch.data.partition(b"\nindex ")
        if sep:
            ids, newline, tail = rest.partition(b"\n")
            mode = ids.split(b" ", 1)[1:]
            full = f"{delta.old_file.id}..{delta.new_file.id}".encode()
            rest = b" ".join([full, *mode]) + newline + tail
        text.append(head + sep + rest)
    return stable_patch_id(b"".join(text))


def _file_entry(delta: Any, blobs: dict[str, bytes]) -> FileDiff:
    old, new = delta.old_file, delta.new_file
    return FileDiff(
        path=_shown(new.raw_path),
        old_path=_shown(old.raw_path) if old.raw_path != new.raw_path else None,
        status=_STATUS.get(delta.status, delta.status_char()),
        old_mode=f"{old.mode:06o}",
        new_mode=f"{new.mode:06o}",
        old_id=str(old.id),
        new_id=str(new.id),
        old_size=len(blobs.get(str(old.id), b"")),
        new_size=len(blobs.get(str(new.id), b"")),
    )


def _shown(raw_path: bytes) -> str:
    return display_path(raw_path.decode("utf-8", errors="surrogateescape"))


_ZERO = "0" * 40


def _not_sent(changes: list[Change], blobs: dict[str, bytes]) -> list[FileDiff]:
    """Paths whose content was not sent, as libgit2 would list them: a change of type (file,
    symlink, submodule) as a deletion and an addition, and a deleted and an added path with
    the same blob id as a rename."""
    entries = []
    for change in changes:
        old, new = change.old, change.new
        if old is not None and new is not None and (old.mode & 0o170000) != (new.mode & 0o170000):
            entries += [
                _unsent(change.path, old, None, blobs),
                _unsent(change.path, None, new, blobs),
            ]
        else:
            entries.append(_unsent(change.path, old, new, blobs))
    added: dict[tuple[str, str], FileDiff] = {}
    for entry in entries:
        if entry.status == "added":
            added.setdefault((entry.new_id, entry.new_mode), entry)
    paired = []
    for entry in entries:
        twin = (
            added.pop((entry.old_id, entry.old_mode), None) if entry.status == "deleted" else None
        )
        if twin is not None:
            twin.status, twin.old_path, twin.old_mode, twin.old_id = (
                "renamed",
                entry.path,
                entry.old_mode,
                entry.old_id,
            )
        else:
            paired.append(entry)
    return paired


def _unsent(
    path: bytes, old: TreeEntry | None, new: TreeEntry | None, blobs: dict[str, bytes]
) -> FileDiff:
    status = "added" if old is None else "deleted" if new is None else "modified"
    return FileDiff(
        path=_shown(path),
        old_path=None,
        status=status,
        old_mode=f"{old.mode:06o}" if old else "000000",
        new_mode=f"{new.mode:06o}" if new else "000000",
        old_id=old.oid if old else _ZERO,
        new_id=new.oid if new else _ZERO,
        old_size=len(blobs.get(old.oid, b"")) if old else 0,
        new_size=len(blobs.get(new.oid, b"")) if new else 0,
        not_sent=not (content_sent(old, blobs) and content_sent(new, blobs)),
    )


def _fill_patch(patch: Any, entry: FileDiff) -> None:
    if patch is None:
        return
    if patch.delta.is_binary:
        entry.binary = True
        return
    _, entry.additions, entry.deletions = patch.line_stats
    text = patch.data.decode("utf-8", errors="replace")
    if len(text) > MAX_FILE_PATCH:
        text = text[:MAX_FILE_PATCH]
        entry.truncated = True
    entry.patch = text


def stored_guards(value: Any) -> dict[str, list[str]]:
    """A held item's guards (guard -> paths), keeping only what has the right types (stored
    rows may hold any JSON: rows written before the API validated bodies)."""
    if not isinstance(value, dict):
        return {}
    return {
        guard: [p for p in paths if isinstance(p, str)] if isinstance(paths, list) else []
        for guard, paths in value.items()
        if isinstance(guard, str)
    }


def file_guards(path: str, old_path: str | None, guard_paths: dict[str, set[str]]) -> list[str]:
    """The guards a file of a held item's diff falls under: either of its names is a path the
    guard matched (the one rule the page's marks and the viewed ticks both follow)."""
    return sorted(
        guard for guard, paths in guard_paths.items() if path in paths or old_path in paths
    )


def context_blobs(blobs: dict[str, bytes]) -> dict[str, bytes]:
    """The verified blobs the review page may read more context lines from: text (no NUL in
    git's sniffing window, as libgit2 decides binary) and at most MAX_CONTEXT_BLOB bytes."""
    return {
        oid: data
        for oid, data in blobs.items()
        if len(data) <= MAX_CONTEXT_BLOB and b"\0" not in data[:8000]
    }


def diffs_to_json(diffs: list[CommitDiff]) -> list[dict[str, Any]]:
    """The same dicts as ``dataclasses.asdict``, without its deep copies (0.7 s per 1,000)."""
    return [
        {
            "commit": d.commit,
            "parent": d.parent,
            "files": [dict(vars(f)) for f in d.files],
            "truncated": d.truncated,
        }
        for d in diffs
    ]


def diff_sha256(diffs_json: list[dict[str, Any]]) -> str:
    """The hash a reviewer attests to: over the canonical JSON of what they were shown."""
    canonical = json.dumps(diffs_json, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", errors="surrogatepass")).hexdigest()
