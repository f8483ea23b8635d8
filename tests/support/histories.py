"""Random histories for the hook's differential tests, and slow references to check against:
a pygit2 tree walk for changed paths, a pygit2 revision walk for commit ranges."""

from __future__ import annotations

import random
import re
import subprocess
from pathlib import Path

import pygit2
from hypothesis import strategies as st

POLICY = b"""\
protected_refs = ["refs/heads/main"]

[[guard]]
name = "training"
paths = ["train/**", "*.ckpt", "!train/scratch/**"]

[[guard]]
name = "odd"
paths = ["we ird/**", "caf\xc3\xa9/*.py", "lnk"]

[agents]
pushers = ["agent-*"]
"""

TRAILER = b"\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n"
NAMES = [
    b"README.md",
    b"train/loop.py",
    b"train/scratch/tmp.py",
    b"train/deep/a/b/c.py",
    b"src/model.ckpt",
    b"docs/guide.md",
    b"we ird/sp ace.txt",
    b"we ird/new\nline",
    b"caf\xc3\xa9/x.py",
    b"raw/\xff\xfe-not-utf8.bin",
    b"\xc3\x9cBER/deep/w.py",  # a non-ASCII top-level name no prefix names
    b"\xfe-top/x.bin",  # and one that is not UTF-8
    b"lnk",
    b"dir",  # becomes a file or a directory (type changes)
    b"dir/inner.py",
]
MODES = [b"100644", b"100755", b"120000"]


def quote(path: bytes) -> bytes:
    escaped = path.replace(b"\\", b"\\\\").replace(b'"', b'\\"').replace(b"\n", b"\\n")
    return b'"' + escaped + b'"'


def random_history(rng: random.Random, commits: int, agent_share: float = 0.8) -> bytes:
    """A fast-import stream: refs/heads/base, refs/heads/new on top, refs/heads/other (orphan)."""
    out: list[bytes] = []
    files: dict[str, dict[bytes, bytes]] = {"new": {}, "other": {}}
    mark = 0
    tips: dict[str, int] = {}

    def commit(branch: str, parents: list[int], agent: bool) -> int:
        nonlocal mark
        mark += 1
        tree = files[branch]
        ops: list[bytes] = []
        for _ in range(rng.randint(0, 4)):
            name = rng.choice(NAMES)
            kind = rng.random()
            if kind < 0.2 and name in tree:
                del tree[name]
                ops.append(b"D " + quote(name))
            elif kind < 0.3 and name in tree:  # rename: same content, new name
                target = rng.choice(NAMES)
                if target != name and not any(
                    t.startswith(target + b"/") or target.startswith(t + b"/") for t in tree
                ):
                    tree[target] = tree.pop(name)
                    ops.append(b"D " + quote(name))
                    ops.append(b"M 100644 inline " + quote(target))
                    ops.append(b"data %d\n" % len(tree[target]) + tree[target])
            else:
                if any(t.startswith(name + b"/") or name.startswith(t + b"/") for t in tree):
                    for t in [
                        t for t in tree if t.startswith(name + b"/") or name.startswith(t + b"/")
                    ]:
                        del tree[t]
                        ops.append(b"D " + quote(t))
                mode = rng.choice(MODES)
                body = b"target" if mode == b"120000" else b"v%d\n" % rng.randint(0, 3)
                tree[name] = body
                ops.append(b"M " + mode + b" inline " + quote(name))
                ops.append(b"data %d\n" % len(body) + body)
        message = b"commit %d" % mark + (TRAILER if agent else b"\n")
        out.append(b"commit refs/heads/" + branch.encode() + b"\nmark :%d\n" % mark)
        out.append(b"author A <a@example.com> %d +0000\n" % (1_700_000_000 + mark))
        out.append(b"committer A <a@example.com> %d +0000\n" % (1_700_000_000 + mark))
        out.append(b"data %d\n" % len(message) + message)
        if parents:
            out.append(b"from :%d\n" % parents[0])
            out.extend(b"merge :%d\n" % p for p in parents[1:])
        if parents == [] and mark > 1:
            out.append(b"deleteall\n")
            for name, body in tree.items():
                out.append(b"M 100644 inline " + quote(name) + b"\ndata %d\n" % len(body) + body)
        out.extend(op + b"\n" for op in ops)
        out.append(b"\n")
        return mark

    for index in range(commits):
        if index == 3:
            out.append(b"reset refs/heads/base\nfrom :%d\n\n" % tips["new"])
        branch = "other" if index % 5 == 4 else "new"
        parents = [tips[branch]] if branch in tips else []
        if branch == "new" and "other" in tips and rng.random() < 0.25:
            parents.append(tips["other"])  # a merge (sometimes of an unrelated root)
        tips[branch] = commit(branch, parents, agent=rng.random() < agent_share)
    return b"".join(out) + b"done\n"


def flatten(repo: pygit2.Repository, tree: pygit2.Tree | None, prefix: bytes = b"") -> dict:
    """path -> (mode, id) for every non-tree entry, walking every subtree (the slow path)."""
    found: dict[bytes, tuple[int, str]] = {}
    if tree is None:
        return found
    for entry in tree:
        path = prefix + entry.raw_name
        if entry.filemode == pygit2.enums.FileMode.TREE:
            found.update(flatten(repo, repo[entry.id], path + b"/"))
        else:
            found[path] = (entry.filemode, str(entry.id))
    return found


def reference_paths(repo: pygit2.Repository, oid: str) -> set[str]:
    """The paths where the commit's tree differs from every parent's (all, for a root), from
    pygit2's whole trees: what a commit itself changes, a merge included."""
    commit = repo[oid]
    mine = flatten(repo, commit.tree)
    theirs = [flatten(repo, p.tree) for p in commit.parents] or [{}]
    every = mine.keys() | set().union(*(tree.keys() for tree in theirs))
    paths = {p for p in every if all(mine.get(p) != tree.get(p) for tree in theirs)}
    return {p.decode("utf-8", errors="surrogateescape") for p in paths}


def reference_stand_ins(repo: pygit2.Repository, oid: str) -> set[str]:
    """Paths where the commit adds or changes a symbolic link or a submodule (gitlink), against
    every parent (a merge: where it differs from all of them, as reference_paths)."""
    commit = repo[oid]
    mine = flatten(repo, commit.tree)
    links = (pygit2.enums.FileMode.LINK, pygit2.enums.FileMode.COMMIT)
    theirs = [flatten(repo, p.tree) for p in commit.parents] or [{}]
    paths = {
        p
        for p, entry in mine.items()
        if entry[0] in links and all(tree.get(p) != entry for tree in theirs)
    }
    return {p.decode("utf-8", errors="surrogateescape") for p in paths}


def reference_commits(repo: pygit2.Repository, new: str, hide: list[str]) -> list[str]:
    walker = repo.walk(new)
    for oid in hide:
        walker.hide(oid)
    return [str(c.id) for c in walker]


def build(tmp: Path, seed: int, agent_share: float = 0.8) -> tuple[Path, dict[str, str]]:
    bare = tmp / f"r{seed}.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    stream = random_history(random.Random(seed), 40, agent_share)
    subprocess.run(["git", "fast-import", "--quiet", "--done"], cwd=bare, input=stream, check=True)
    tips = ref_tips(bare)
    subprocess.run(["git", "update-ref", "refs/heads/main", tips["refs/heads/base"]], cwd=bare)
    return bare, tips


def ref_tips(bare: Path) -> dict[str, str]:
    """Every ref of ``bare`` and the object it names, as git lists them."""
    out = subprocess.run(
        ["git", "for-each-ref", "--format=%(refname) %(objectname)"],
        cwd=bare,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split() for line in out.splitlines())


def reference_ref_regex(pattern: str) -> str:
    """A plain regular expression (for ``re.fullmatch``) of one protected-ref pattern: the slow
    reference the one matcher (gate.git.refs.ref_matches) is checked against."""
    out = []
    parts = pattern.split("/")
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            out.append(r"[^/]+(?:/[^/]+)*" if last else r"(?:[^/]+/)*")
            continue
        out.append("[^/]*".join(re.escape(chunk) for chunk in part.split("*")))
        if not last:
            out.append("/")
    return "".join(out)


def gitignore_patterns(segments: list[str]) -> st.SearchStrategy[str]:
    """Guard patterns made of ``segments``: maybe negated, maybe anchored, maybe a directory."""
    return st.builds(
        lambda neg, lead, parts, trail: ("!" if neg else "") + lead + "/".join(parts) + trail,
        st.booleans(),
        st.sampled_from(["", "/"]),
        st.lists(st.sampled_from(segments), min_size=1, max_size=4),
        st.sampled_from(["", "/"]),
    )


def repository_paths(names: list[str]) -> st.SearchStrategy[str]:
    """Paths of one to five components drawn from ``names``."""
    return st.lists(st.sampled_from(names), min_size=1, max_size=5).map("/".join)
