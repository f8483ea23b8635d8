"""A hold's commits read from the objects the hook sent, and only once every one is checked.

Anyone holding a hook token can post a hold, so nothing in its body is taken on trust: each
object's id is recomputed from its type and bytes, the item's key must be a commit among them,
each parent it names must be there too (for its tree), and every tree the diff against each
parent walks through must be there (the hold is refused, naming the object, when one is not).
The commit's author, committer, message and trailers are read from the verified commit with
git's own rules (gate.git.commits), the diff is rendered from the verified trees and blobs
(gate.server.diffs), and the content hash over those objects is computed here: a reviewer's
approval binds it, and the hook compares it with its own (gate.git.client.check_content).

A changed blob that was not sent (over the hook's caps, gate.wire.MAX_SENT_BLOB) is shown as
"content not sent by the hook" with its id and mode: its id is checked (it is in a verified
tree), its content and size are not known. The item names those paths (``unsent``): such a
hold is incomplete, and never supersedes a request (gate.server.services.holds). Any object
that the diff does not use is refused: what the hash covers is exactly what makes the held
content.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from gate import wire
from gate.errors import GateError
from gate.git.commits import display_path, parse_commit
from gate.git.objects import TreeEntry, content_sha256, object_id, parse_tree
from gate.server.diffs import (
    Change,
    content_sent,
    context_blobs,
    diff_sha256,
    diffs_to_json,
    render_diffs,
)
from gate.wire import HoldRequest, WireError


def verify_hold(hold: HoldRequest) -> HoldRequest:
    """The hold with each commit item read from its verified objects: ``commit`` (metadata),
    ``diffs``, ``diff_sha256``, ``content_sha256`` and ``unsent`` (the changed paths whose
    content was not sent); WireError (HTTP 400) when the objects do not prove the commit."""
    items = []
    for n, item in enumerate(hold.items):
        if item["kind"] == "commit":
            items.append(verify_commit_item(item, f"items[{n}]"))
        else:
            items.append(
                {
                    **item,
                    "diffs": [],
                    "diff_sha256": None,
                    "content_sha256": None,
                    "patch_id": None,
                    "unsent": [],
                }
            )
    return replace(hold, items=items)


def verify_commit_item(item: dict[str, Any], where: str) -> dict[str, Any]:
    key = item["key"]
    if len(key) != 40:
        raise WireError(
            f"{where}: {key[:16]}... is a SHA-256 object id; gate supports SHA-1 repositories only"
        )
    objects: dict[str, tuple[str, bytes]] = {}
    for kind, data in item["objects"]:
        oid = object_id(kind, data)
        if oid in objects:
            raise WireError(f"{where}.objects: {kind} {oid} is sent twice")
        objects[oid] = (kind, data)
    commit = _commit(objects, key, where, f"the held commit {key}")
    used = {key}
    parent_trees: list[tuple[str | None, str | None]] = []
    for parent in commit.parents:
        parent_trees.append((parent, _commit(objects, parent, where, f"parent {parent}").tree))
        used.add(parent)
    read = _tree_reader(objects, used, where)
    for tree in {commit.tree, *(tree for _, tree in parent_trees)}:
        read(tree)  # the root trees: needed even when equal (the hook always sends them)
    changes = [
        (parent, changed_entries(read, tree, commit.tree))
        for parent, tree in parent_trees or [(None, None)]
    ]
    blobs: dict[str, bytes] = {}
    for _, changed in changes:
        for change in changed:
            for side in (change.old, change.new):
                if side is not None and side.oid in objects and objects[side.oid][0] == "blob":
                    blobs[side.oid] = objects[side.oid][1]
    used |= blobs.keys()
    unsent = sorted(
        {
            display_path(change.path.decode("utf-8", errors="surrogateescape"))
            for _, changed in changes
            for change in changed
            for side in (change.old, change.new)
            if not content_sent(side, blobs)
        }
    )
    extra = sorted(set(objects) - used)
    if extra:
        kind = objects[extra[0]][0]
        raise WireError(
            f"{where}.objects: {kind} {extra[0]} is not part of commit {key}'s diff"
            + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else "")
        )
    rendered = render_diffs(key, changes, blobs)
    diffs = diffs_to_json(rendered)
    return {
        **{k: v for k, v in item.items() if k != "objects"},
        "commit": wire.commit_fields(_metadata(commit), f"{where}: commit {key}"),
        "diffs": diffs,
        "diff_sha256": diff_sha256(diffs),
        "content_sha256": content_sha256(objects.values()),
        "unsent": unsent,
        "blobs": context_blobs(blobs),
        # A merge's change is not one diff: no patch id compares it with another commit.
        "patch_id": rendered[0].patch_id if len(rendered) == 1 else None,
    }


def _commit(objects: dict[str, tuple[str, bytes]], oid: str, where: str, what: str) -> Any:
    found = objects.get(oid)
    if found is None or found[0] != "commit":
        raise WireError(f"{where}.objects: {what} was not sent (no commit object has that id)")
    try:
        commit = parse_commit(oid, found[1])
    except GateError as exc:
        raise WireError(f"{where}: {str(exc).removeprefix('gate: ')}") from None
    if len(commit.tree) != 40 or any(len(p) != 40 for p in commit.parents):
        raise WireError(f"{where}: commit {oid} does not name its tree and parents by SHA-1 id")
    return commit


def _tree_reader(
    objects: dict[str, tuple[str, bytes]], used: set[str], where: str
) -> Callable[[str], list[TreeEntry]]:
    parsed: dict[str, list[TreeEntry]] = {}

    def read(oid: str) -> list[TreeEntry]:
        if oid not in parsed:
            found = objects.get(oid)
            if found is None or found[0] != "tree":
                raise WireError(f"{where}.objects: tree {oid}, which the diff needs, was not sent")
            try:
                parsed[oid] = parse_tree(found[1])
            except ValueError as exc:
                raise WireError(f"{where}.objects: tree {oid} is malformed: {exc}") from None
            used.add(oid)
        return parsed[oid]

    return read


def changed_entries(
    read: Callable[[str], list[TreeEntry]], old: str | None, new: str | None
) -> list[Change]:
    """Every non-tree path whose mode or id differs between two trees, as ``git diff-tree -r``
    lists them: subtrees with equal ids are not entered (nor read); an entry that turns from a
    tree into a file (or back) is the file deleted (added) and every path below added
    (deleted)."""
    found: list[Change] = []
    _walk(read, old, new, b"", found)
    return found


def _walk(
    read: Callable[[str], list[TreeEntry]],
    old: str | None,
    new: str | None,
    prefix: bytes,
    found: list[Change],
) -> None:
    if old == new:
        return
    theirs = {e.name: e for e in read(old)} if old else {}
    mine = {e.name: e for e in read(new)} if new else {}
    for name in sorted(theirs.keys() | mine.keys()):
        before, after = theirs.get(name), mine.get(name)
        if before is not None and after is not None and before == after:
            continue
        path = prefix + name
        old_tree = before.oid if before is not None and before.is_tree else None
        new_tree = after.oid if after is not None and after.is_tree else None
        old_file = before if before is not None and not before.is_tree else None
        new_file = after if after is not None and not after.is_tree else None
        if old_file is not None or new_file is not None:
            found.append(Change(path, old_file, new_file))
        if old_tree is not None or new_tree is not None:
            _walk(read, old_tree, new_tree, path + b"/", found)


def _metadata(commit: Any) -> dict[str, Any]:
    def person(who: Any) -> dict[str, Any]:
        return wire.person(who.name, who.email, who.time, who.offset)

    return {
        "id": commit.id,
        "parents": list(commit.parents),
        "author": person(commit.author),
        "committer": person(commit.committer),
        "message": commit.message,
        "trailers": [list(t) for t in commit.trailers],
    }
