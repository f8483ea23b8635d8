"""Git objects made in memory, as a hook would send them for a held commit (no repository):
for the server's tests that post holds. Ids come from gate.git.objects, which is checked
against git itself in tests/server/test_content.py."""

from __future__ import annotations

from gate.git.objects import BLOB, TREE, TreeEntry, encode_tree, object_id


def tree_objects(files: dict[str, bytes]) -> tuple[str, list[tuple[str, bytes]]]:
    """The root tree of ``files`` (path -> content) and every tree and blob it holds."""
    objects: list[tuple[str, bytes]] = []
    below: dict[str, dict[str, bytes]] = {}
    entries = []
    for path, data in files.items():
        head, slash, rest = path.partition("/")
        if slash:
            below.setdefault(head, {})[rest] = data
        else:
            objects.append(("blob", data))
            entries.append(TreeEntry(head.encode(), BLOB, object_id("blob", data)))
    for name, sub in below.items():
        oid, more = tree_objects(sub)
        objects += more
        entries.append(TreeEntry(name.encode(), TREE, oid))
    data = encode_tree(entries)
    objects.append(("tree", data))
    return object_id("tree", data), objects


def raw_commit(
    tree: str,
    parents: list[str],
    author: str,
    message: str,
    committer: str | None = None,
    time: int = 1_700_000_000,
) -> bytes:
    lines = [f"tree {tree}", *(f"parent {p}" for p in parents)]
    lines += [f"author {author} {time} +0000", f"committer {committer or author} {time} +0000"]
    return ("\n".join(lines) + "\n\n" + message).encode("utf-8")


def root_commit(
    files: dict[str, bytes], author: str, message: str
) -> tuple[str, list[tuple[str, bytes]]]:
    """A root commit adding ``files``: its id and every object a hold sends for it."""
    tree, objects = tree_objects(files)
    data = raw_commit(tree, [], author, message)
    return object_id("commit", data), [("commit", data), *objects]
