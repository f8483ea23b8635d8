"""The one push pipeline's parts against slow references, on generated histories and names.

- The commit range: what the first stage walks (pushed tips, no protected ref, protected refs
  named literally, by wildcard, and with non-ASCII names) against a pygit2 revision walk.
- The guards' pathspec: every path a guard matches (pathspec's GitIgnoreSpec) lies under one
  of its literal prefixes; diff-tree limited to them lists exactly the tree walk's changes
  under them.
- The one ref matcher against a plain regex, on non-ASCII names; hook stdin decoded as UTF-8.
- The runner: git runs with replace objects off, whatever the repository holds.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pygit2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gate.git.plumbing import Git
from gate.git.policy import compile_path_patterns
from gate.git.prefilter import first_stage, guard_pathspec
from gate.git.refs import RefUpdate, is_protected, parse_ref_updates, ref_matches
from tests.support.histories import (
    build,
    gitignore_patterns,
    reference_commits,
    reference_paths,
    reference_ref_regex,
    repository_paths,
)

PATH_ENV = {"PATH": "/usr/bin:/bin:/usr/local/bin"}

# --------------------------------------------------------------------------------------------
# The commit range

PATTERNS = [
    ["refs/heads/main"],
    ["refs/heads/main", "refs/heads/prod-ü"],
    ["refs/heads/main", "refs/heads/rel*", "refs/tags/**"],
    ["refs/heads/**"],
]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("patterns", PATTERNS, ids=["literal", "non-ascii", "wildcards", "all"])
def test_the_first_stage_walks_the_one_range(tmp_path: Path, seed: int, patterns: list) -> None:
    bare, tips = build(tmp_path, seed)
    repo = pygit2.Repository(str(bare))
    new, other = tips["refs/heads/new"], tips["refs/heads/other"]
    history = [str(c.id) for c in repo.walk(new)]
    middle = history[len(history) // 2]
    for name in ("refs/heads/prod-ü", "refs/heads/rel-1", "refs/tags/v1", "refs/heads/prod-u"):
        subprocess.run(["git", "update-ref", name, middle], cwd=bare, check=True)
    # Not protected by refs/heads/rel* ('*' stays within a component), though git's --glob
    # alone would take them: the walk must not stop there.
    for name in ("refs/heads/rel-2/deep", "refs/heads/relx/y/z"):
        subprocess.run(["git", "update-ref", name, history[-1]], cwd=bare, check=True)
    git = Git(str(bare), PATH_ENV)
    refs = {name: str(repo.references[name].target) for name in repo.references}
    for update in (
        RefUpdate(tips["refs/heads/base"], new, "refs/heads/main"),
        RefUpdate("0" * 40, other, "refs/heads/prod-ü"),
        RefUpdate(tips["refs/heads/base"], other, "refs/heads/main"),
    ):
        if not is_protected(update.ref, patterns):
            continue
        stage = first_stage(git, [update], patterns, [], None, None)
        hide = [oid for name, oid in refs.items() if is_protected(name, patterns)]
        hide += [] if update.is_create else [update.old]
        expected = reference_commits(repo, update.new, hide)
        assert stage.count == len(expected), (patterns, update)


# --------------------------------------------------------------------------------------------
# The guards' pathspec

_PATTERN = gitignore_patterns(["a", "b", "train", "x.py", "m.ckpt", "é", "*", "**", "?", "[ab]"])
_PATH = repository_paths(["a", "b", "train", "x.py", "m.ckpt", "é", "a b"])


def _under(path: str, prefixes: list[str]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PATTERN, min_size=1, max_size=4), st.lists(_PATH, min_size=1, max_size=10))
def test_guard_pathspec_covers_every_guarded_path(patterns: list[str], paths: list[str]) -> None:
    spec = compile_path_patterns(patterns)
    prefixes = guard_pathspec(patterns)
    for path in paths:
        if prefixes and spec.match_file(path, separators=()):
            assert _under(path, prefixes), (patterns, prefixes, path)


def test_guard_pathspec_prunes_what_it_can() -> None:
    # Top directories only (a link at 'configs' stands for 'configs/train/'), and .gitmodules.
    assert guard_pathspec(["train/**", "!train/scratch/**", "/dir/inner.py"]) == [
        ".gitmodules",
        "dir",
        "train",
    ]
    assert guard_pathspec(["configs/train/*.yaml", "a/b*/c"]) == [".gitmodules", "a", "configs"]
    for unprunable in (["train/**", "*.ckpt"], ["lnk"], ["train/"], ["**/x"], ["*/x"]):
        assert guard_pathspec(unprunable) == [], unprunable


def _expected_under(repo: pygit2.Repository, oid: str, prefixes: list[str]) -> set[str]:
    """The tree walk's changes a pathspec of ``prefixes`` must list: under one in any ASCII
    case, or with a byte outside ASCII in the first component (guards match folded names)."""
    lowered = [x.lower() for x in prefixes]
    return {
        p
        for p in reference_paths(repo, oid)
        if _under(p.lower(), lowered) or not p.partition("/")[0].isascii()
    }


PREFIXES = ["train", "we ird", "café", "dir/inner.py", ":(glob)*"]


@pytest.mark.parametrize("seed", range(6))
def test_pruned_changed_paths_match_the_tree_walk(tmp_path: Path, seed: int) -> None:
    """diff-tree given literal prefixes (odd names: a space, non-ASCII, a pathspec-magic look-
    alike, two components) lists exactly the tree walk's changes under them, in any ASCII
    case, and every change under a top-level name with a non-ASCII byte."""
    bare, tips = build(tmp_path, seed)
    repo = pygit2.Repository(str(bare))
    git = Git(str(bare), PATH_ENV)
    every = reference_commits(repo, tips["refs/heads/new"], [])
    pruned = dict(git.changed_paths(every, PREFIXES))
    for oid in every:
        expected = _expected_under(repo, oid, PREFIXES)
        got = {change.path for change in pruned.get(oid, [])}
        assert got == expected, f"seed {seed}, commit {oid}"
        assert (oid in pruned) == bool(expected)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    ("batch", "start", "lane_min", "lanes"),
    [
        (3, 1, 1, 2),  # batches of 3 at most start as ids come; what is left shared out
        (100, 2, 2, 2),  # a batch takes every id waiting
        (100, 500, 2, 2),  # none starts early: every id shared out at the end
        (3, 500, 500, 2),  # too few ids for a second lane: one diff-tree at the end
        (7, 1, 1, 1),  # one lane: one batch at a time
    ],
)
def test_weighed_batches_list_what_the_tree_walk_finds(
    tmp_path: Path,
    seed: int,
    batch: int,
    start: int,
    lane_min: int,
    lanes: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first stage's way: batches of a few commits, two diff-trees at once, each batch's
    two passes handed to ``weigh`` in order; together exactly the tree walk's changes."""
    from gate.git import plumbing

    monkeypatch.setattr(plumbing, "BATCH_COMMITS", batch)
    monkeypatch.setattr(plumbing, "BATCH_START_COMMITS", start)
    monkeypatch.setattr(plumbing, "LANE_MIN_COMMITS", lane_min)
    monkeypatch.setattr(plumbing, "_lanes", lambda: lanes)
    bare, tips = build(tmp_path, seed)
    repo = pygit2.Repository(str(bare))
    every = reference_commits(repo, tips["refs/heads/new"], [])
    outputs: list[bytes] = []
    lister = plumbing.ChangedPaths(
        PATH_ENV | {"GIT_DIR": str(bare)}, PREFIXES, weigh=outputs.append
    )
    for at in range(0, len(every), 5):  # in pieces, as rev-list's output comes
        lister.add([oid.encode("ascii") for oid in every[at : at + 5]])
    assert lister.finish_raw() == b""
    assert not lister.running and lister.git is None
    got: dict[str, set[str]] = {}
    order: list[str] = []
    for output in outputs:
        for oid, changes in plumbing.parse_raw_diff(output).items():
            order.append(oid.decode("ascii"))
            got[oid.decode("ascii")] = {change.path for change in changes}
    for oid in every:
        assert got.get(oid, set()) == _expected_under(repo, oid, PREFIXES), (seed, oid)
    assert order == [oid for oid in every if oid in got]  # weighed in the order fed


@given(st.integers(0, 100_000), st.integers(1, 2))
def test_batches_are_shared_out_evenly(count: int, lanes: int) -> None:
    """What is left at the end goes out in batches one lane each (or a multiple), within one
    commit of each other and none above BATCH_COMMITS; few commits go to one diff-tree."""
    from gate.git.plumbing import BATCH_COMMITS, LANE_MIN_COMMITS, _batch_sizes

    sizes = _batch_sizes(count, lanes)
    assert sum(sizes) == count and all(sizes)
    if count >= lanes * LANE_MIN_COMMITS:
        assert len(sizes) % lanes == 0
        assert max(sizes) <= BATCH_COMMITS and max(sizes) - min(sizes) <= 1
        assert len(sizes) == lanes * -(-count // (lanes * BATCH_COMMITS))
    else:
        assert len(sizes) <= 1


# --------------------------------------------------------------------------------------------
# Refs

_REF_PART = st.sampled_from(["main", "prod-ü", "ü*", "*ü", "*", "r*", "a*b", "**", "é"])


@settings(max_examples=500, deadline=None)
@given(
    st.lists(_REF_PART, min_size=1, max_size=4),
    st.lists(st.sampled_from(["main", "prod-ü", "prod-u", "ü", "üü", "aüb", "é", ""]), max_size=5),
)
def test_ref_matcher_agrees_with_a_regex_on_non_ascii(parts: list[str], names: list[str]) -> None:
    pattern = "refs/" + "/".join(parts)
    ref = "refs/" + "/".join(names)
    expected = re.fullmatch(reference_ref_regex(pattern), ref) is not None
    assert ref_matches(pattern, ref) == expected, (pattern, ref)


def test_hook_stdin_is_utf8_with_surrogateescape() -> None:
    old, new = "1" * 40, "2" * 40
    raw = f"{old} {new} refs/heads/prod-ü\n".encode() + old.encode() + b" " + new.encode()
    raw += b" refs/heads/x\xff\n"
    first, second = parse_ref_updates(raw)
    assert first.ref == "refs/heads/prod-ü" and is_protected(first.ref, ["refs/heads/prod-ü"])
    assert second.ref.encode("utf-8", "surrogateescape") == b"refs/heads/x\xff"


# --------------------------------------------------------------------------------------------
# The runner


def test_git_ignores_replace_refs(tmp_path: Path) -> None:
    bare, tips = build(tmp_path, 0)
    new, other = tips["refs/heads/new"], tips["refs/heads/other"]
    subprocess.run(["git", "replace", new, other], cwd=bare, check=True)
    git = Git(str(bare), PATH_ENV)
    (oid, raw), *_ = git.commit_records([new])
    repo = pygit2.Repository(str(bare))
    assert oid.decode() == new
    assert raw.split(b"\n", 1)[0] == b"tree " + str(repo[new].tree_id).encode()
    assert set(git.commit_ids([new])) == set(reference_commits(repo, new, []))
