"""The hook's fast paths decide exactly as the slow ones do, on generated histories.

- Changed paths: git plumbing (rev-list + diff-tree --stdin) against a reference that walks
  every tree with pygit2 and compares entries, over random histories with merges, renames,
  mode and type changes, deletions, root commits, odd and non-UTF-8 names, and force pushes.
- Guard matching: GuardMatcher (the hook's cached regexes) against pathspec's GitIgnoreSpec.
- Catalog addresses: the dictionary lookup against one full-match PatternSet of every rule.
- The settings cache: a warm cache yields the same policy, guards and catalog as parsing.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pygit2
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gate.catalog import PatternSet, catalog_glob, load_catalog, login_regex
from gate.classification import classify
from gate.detection import AgentDetector
from gate.hookcache import CACHE_NAME, load_state
from gate.inspection import Git
from gate.policy import Guard, GuardMatcher, compile_path_patterns, guard_rules, parse_policy
from gate.refs import RefUpdate

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
    b"lnk",
    b"dir",  # becomes a file or a directory (type changes)
    b"dir/inner.py",
]
MODES = [b"100644", b"100755", b"120000"]


def _quote(path: bytes) -> bytes:
    escaped = path.replace(b"\\", b"\\\\").replace(b'"', b'\\"').replace(b"\n", b"\\n")
    return b'"' + escaped + b'"'


def _random_history(rng: random.Random, commits: int, agent_share: float = 0.8) -> bytes:
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
                ops.append(b"D " + _quote(name))
            elif kind < 0.3 and name in tree:  # rename: same content, new name
                target = rng.choice(NAMES)
                if target != name and not any(
                    t.startswith(target + b"/") or target.startswith(t + b"/") for t in tree
                ):
                    tree[target] = tree.pop(name)
                    ops.append(b"D " + _quote(name))
                    ops.append(b"M 100644 inline " + _quote(target))
                    ops.append(b"data %d\n" % len(tree[target]) + tree[target])
            else:
                if any(t.startswith(name + b"/") or name.startswith(t + b"/") for t in tree):
                    for t in [
                        t for t in tree if t.startswith(name + b"/") or name.startswith(t + b"/")
                    ]:
                        del tree[t]
                        ops.append(b"D " + _quote(t))
                mode = rng.choice(MODES)
                body = b"target" if mode == b"120000" else b"v%d\n" % rng.randint(0, 3)
                tree[name] = body
                ops.append(b"M " + mode + b" inline " + _quote(name))
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
                out.append(b"M 100644 inline " + _quote(name) + b"\ndata %d\n" % len(body) + body)
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


def _flatten(repo: pygit2.Repository, tree: pygit2.Tree | None, prefix: bytes = b"") -> dict:
    """path -> (mode, id) for every non-tree entry, walking every subtree (the slow path)."""
    found: dict[bytes, tuple[int, str]] = {}
    if tree is None:
        return found
    for entry in tree:
        path = prefix + entry.raw_name
        if entry.filemode == pygit2.enums.FileMode.TREE:
            found.update(_flatten(repo, repo[entry.id], path + b"/"))
        else:
            found[path] = (entry.filemode, str(entry.id))
    return found


def _reference_paths(repo: pygit2.Repository, oid: str) -> set[str]:
    commit = repo[oid]
    mine = _flatten(repo, commit.tree)
    paths: set[bytes] = set()
    for parent in commit.parents or [None]:
        theirs = _flatten(repo, parent.tree if parent is not None else None)
        paths |= {p for p in mine.keys() | theirs.keys() if mine.get(p) != theirs.get(p)}
    return {p.decode("utf-8", errors="surrogateescape") for p in paths}


def _reference_commits(repo: pygit2.Repository, new: str, hide: list[str]) -> list[str]:
    walker = repo.walk(new)
    for oid in hide:
        walker.hide(oid)
    return [str(c.id) for c in walker]


def _build(tmp: Path, seed: int, agent_share: float = 0.8) -> tuple[Path, dict[str, str]]:
    bare = tmp / f"r{seed}.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    stream = _random_history(random.Random(seed), 40, agent_share)
    subprocess.run(["git", "fast-import", "--quiet", "--done"], cwd=bare, input=stream, check=True)
    refs = subprocess.run(
        ["git", "for-each-ref", "--format=%(refname) %(objectname)"],
        cwd=bare,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    tips = dict(line.split() for line in refs if line)
    subprocess.run(["git", "update-ref", "refs/heads/main", tips["refs/heads/base"]], cwd=bare)
    return bare, tips


@pytest.mark.parametrize("seed", range(6))
def test_changed_paths_match_tree_walk(tmp_path: Path, seed: int) -> None:
    bare, tips = _build(tmp_path, seed)
    repo = pygit2.Repository(str(bare))
    git = Git(str(bare), {"PATH": "/usr/bin:/bin:/usr/local/bin"})
    every = _reference_commits(repo, tips["refs/heads/new"], [])
    fast = dict(git.changed_paths(every))
    for oid in every:
        expected = _reference_paths(repo, oid)
        got = {change.path for change in fast.get(oid, [])}
        assert got == expected, f"seed {seed}, commit {oid}"


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("pusher", [None, "agent-x"])
def test_classification_matches_slow_path(tmp_path: Path, seed: int, pusher: str | None) -> None:
    bare, tips = _build(tmp_path, seed)
    repo = pygit2.Repository(str(bare))
    policy = parse_policy(POLICY)
    git = Git(str(bare), {"PATH": "/usr/bin:/bin:/usr/local/bin"})
    base, new, other = tips["refs/heads/base"], tips["refs/heads/new"], tips["refs/heads/other"]
    # a fast-forward, a creation, and a force push replacing new by the unrelated branch
    for update in (
        RefUpdate(base, new, "refs/heads/main"),
        RefUpdate("0" * 40, other, "refs/heads/main"),
        RefUpdate(new, other, "refs/heads/main"),
    ):
        detector = AgentDetector(policy.agents, pusher)
        (verdict,) = classify(git, policy, [update], detector)
        hide = [base] + ([] if update.is_create else [update.old])
        expected = {}
        for oid in _reference_commits(repo, update.new, hide):
            commit = git_commit(git, oid)
            if not any(s.kind != "ref" for s in detector.signals(commit, update.ref)):
                continue
            guards = policy.guards_for_paths(_reference_paths(repo, oid))
            if guards:
                expected[oid] = guards
        assert {h.key: h.guards for h in verdict.held_commits} == expected
        if pusher and not update.is_create and update.old == new:
            removed = _reference_commits(repo, update.old, [update.new])
            paths = set().union(*(_reference_paths(repo, oid) for oid in removed))
            guards = policy.guards_for_paths(paths)
            assert (verdict.held_change is not None) == bool(guards)
            if guards:
                assert verdict.held_change.guards == guards


def git_commit(git: Git, oid: str):  # type: ignore[no-untyped-def]
    """The commit record itself (parsed from its raw object: not the path under test)."""
    return next(iter(git.commits([oid], [])))


_SEGMENTS = st.sampled_from(["a", "b", "train", "x.py", "m.ckpt", "dir", "é", "*", "**", "?"])
_PATTERN = st.builds(
    lambda neg, lead, parts, trail: ("!" if neg else "") + lead + "/".join(parts) + trail,
    st.booleans(),
    st.sampled_from(["", "/"]),
    st.lists(_SEGMENTS, min_size=1, max_size=4),
    st.sampled_from(["", "/"]),
)
_PATH = st.lists(
    st.sampled_from(["a", "b", "train", "x.py", "m.ckpt", "dir", "é"]), min_size=1, max_size=5
).map("/".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PATTERN, min_size=1, max_size=5), st.lists(_PATH, min_size=1, max_size=10))
@example(["a/a", "!*/"], ["a/a/a"])  # unanchored regexes: pathspec searches, it does not match
def test_guard_matcher_agrees_with_pathspec(patterns: list[str], paths: list[str]) -> None:
    spec = compile_path_patterns(patterns)
    matcher = GuardMatcher(guard_rules(patterns))
    for path in paths:
        assert matcher.matches(path) == spec.match_file(path, separators=()), (patterns, path)


def test_guard_uses_cached_rules() -> None:
    guard = Guard("g", ("train/**", "!train/scratch/**"))
    fresh = Guard("g", guard.paths)
    fresh.use_rules(guard.rules)
    for path in ("train/a.py", "train/scratch/b.py", "docs/c.md"):
        assert fresh.matches(path) == guard.matches(path) == guard._spec.match_file(path)


_ADDRESSES = st.one_of(
    st.sampled_from(
        [
            "noreply@anthropic.com",
            "NoReply@Anthropic.COM",
            "49699333+dependabot[bot]@users.noreply.github.com",
            "dependabot[bot]@users.noreply.ghe.example.com",
            "copilot@github.com",
            "noreply@anthropic.com.evil",
            "\u212aelvin@example.com",
            "noreply@anthrop\u0130c.com",
        ]
    ),
    st.text(min_size=0, max_size=30),
)


@settings(max_examples=300, deadline=None)
@given(_ADDRESSES)
def test_catalog_addresses_agree_with_one_regex(address: str) -> None:
    catalog = load_catalog()
    rules = []
    for entry in catalog.entries:
        rules += [((entry.name, p), catalog_glob(p)) for p in entry.emails]
        rules += [((entry.name, p), login_regex(p)) for p in entry.logins]
    reference = PatternSet(rules, mode="full")
    assert catalog._addresses.match(address) == reference.match(address)


def test_settings_cache_gives_the_same_state(tmp_path: Path) -> None:
    from gate.hookconfig import HookConfig

    policy = tmp_path / "policy.toml"
    policy.write_bytes(POLICY)
    config = HookConfig("http://127.0.0.1:9", str(tmp_path / "t"), str(policy), "r")
    (tmp_path / "gate.toml").write_text(config.to_toml())
    cold = load_state(str(tmp_path))
    assert (tmp_path / CACHE_NAME).exists()
    warm = load_state(str(tmp_path))
    assert warm.policy == cold.policy and warm.config == cold.config
    assert warm.catalog_entries == cold.catalog_entries
    for path in ("train/a.py", "train/scratch/b.py", "x.ckpt", "café/x.py", "lnk", "docs/a"):
        assert [g.matches(path) for g in warm.policy.guards] == [
            g.matches(path) for g in cold.policy.guards
        ]
    policy.write_bytes(POLICY.replace(b'"lnk"', b'"lnk2"'))
    edited = load_state(str(tmp_path))
    assert edited.policy.guards[1].paths[-1] == "lnk2"


def test_large_diff_tree_input_does_not_deadlock(tmp_path: Path) -> None:
    """diff-tree answers while it reads: 5,000 ids (205 KB) fill both pipes at once."""
    bare, tips = _build(tmp_path, 0)
    git = Git(str(bare), {"PATH": "/usr/bin:/bin:/usr/local/bin"})
    ids = [tips["refs/heads/new"]] * 5_000
    assert sum(1 for _ in git.changed_paths(ids)) >= 1
