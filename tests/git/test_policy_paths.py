"""gate.git.policy.paths: guard matching agrees with gitignore and is linear in the path.

pathspec's GitIgnoreSpec is the reference on generated patterns and paths; real
``git check-ignore`` is the reference where pathspec's regexes part from git (names with a
newline, bracket expressions and '/'). The work a match does is counted, never timed.
"""

from __future__ import annotations

import subprocess
import warnings
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gate.git.literals import path_rules
from gate.git.plumbing import PathChange
from gate.git.policy import GuardMatcher, PolicyError, check_path_pattern, compile_path_patterns
from gate.git.policy.model import Guard
from gate.git.policy.paths import folded_patterns, stand_in_tops
from gate.git.prefilter import _may_be_guarded, fold_path
from tests.support.histories import gitignore_patterns, repository_paths

# Pieces of one segment glob. Negated brackets are left out here: pathspec lets them match '/'.
_TOKENS = st.sampled_from(
    ["a", "b", "_", ".", "é", "*", "**", "?", "[ab]", "[a-c]", "[]a]", "\\*", "\\?", "\\[", "x"]
)
_SEGMENT = st.lists(_TOKENS, min_size=1, max_size=5).map("".join) | st.sampled_from(["**", "*"])
_PATTERN = st.builds(
    lambda neg, lead, parts, trail: ("!" if neg else "") + lead + "/".join(parts) + trail,
    st.booleans(),
    st.sampled_from(["", "/"]),
    st.lists(_SEGMENT, min_size=1, max_size=4),
    st.sampled_from(["", "/"]),
)
_COMPONENT = st.text(alphabet="ab_.éx*?[]\\c", min_size=1, max_size=8)
_PATH = st.lists(_COMPONENT, min_size=1, max_size=6).map("/".join)


def pathspec_matches(patterns: list[str], path: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return bool(compile_path_patterns(patterns).match_file(path, separators=()))


@settings(max_examples=800, deadline=None, database=None)
@given(st.lists(_PATTERN, min_size=1, max_size=4), st.lists(_PATH, min_size=1, max_size=8))
@example(["a/**/b"], ["a/b/b", "a/x/b/y", "a/b"])
@example(["**/a/*"], ["a/a/x", "a/b/a/c/d"])
@example(["*_*_*.ckpt"], ["m_a_b.ckpt", "m_a.ckpt", "d/x__y_.ckpt/z"])
def test_matches_like_pathspec(patterns: list[str], paths: list[str]) -> None:
    matcher = GuardMatcher(patterns)
    for path in paths:
        assert matcher.matches(path) == pathspec_matches(patterns, path), (patterns, path)


@settings(max_examples=500, deadline=None, database=None)
@given(
    st.lists(st.sampled_from(["a", "b", "*", "?", "[!a]", "[^b]", "[!]a]", "[!a-c]"]), max_size=6),
    st.lists(st.text(alphabet="abcd]", min_size=1, max_size=6), min_size=1, max_size=6),
)
def test_negated_brackets_within_a_component_match_like_pathspec(
    tokens: list[str], names: list[str]
) -> None:
    """On one-component names: there pathspec's negated brackets have no '/' to match."""
    pattern = "".join(tokens) or "a"
    matcher = GuardMatcher([pattern])
    for name in names:
        assert matcher.matches(name) == pathspec_matches([pattern], name), (pattern, name)


@pytest.mark.parametrize(
    ("pattern", "path", "matched"),
    [
        ("a[!b]c", "a/c", False),  # a bracket expression never matches '/'
        ("a[--0]c", "a/c", False),  # not even when its range includes '/'
        ("a[!b]c", "axc", True),
        ("**/secret.py", "x\ny/secret.py", True),  # pathspec: '.' stops at the newline
        ("*.ckpt", "a\n/m.ckpt", True),
        ("*.ckpt", "train.ckpt\n", False),  # pathspec: '$' matches before a final newline
        ("train/**", "train/\n", True),
    ],
)
def test_follows_git_where_pathspec_does_not(
    tmp_path: Path, pattern: str, path: str, matched: bool
) -> None:
    assert check_path_pattern(pattern) is None
    assert GuardMatcher([pattern]).matches(path) is matched
    assert git_ignores(tmp_path, pattern, path) is matched


def git_ignores(tmp_path: Path, pattern: str, path: str) -> bool:
    subprocess.run(["git", "init", "-q", str(tmp_path / "repo")], check=True)
    (tmp_path / "repo" / ".gitignore").write_text(pattern + "\n", encoding="utf-8")
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", "-z", "--stdin"],
        input=path.encode() + b"\0",
        capture_output=True,
        cwd=tmp_path / "repo",
    )
    assert result.returncode in (0, 1), result.stderr
    return result.returncode == 0


def test_invalid_patterns_are_refused_as_pathspec_refuses_them() -> None:
    for pattern in ("bad\\", "!", "[z-a]"):
        with pytest.raises(PolicyError, match="invalid path pattern"):
            GuardMatcher([pattern], source="guard 'g'")
    # What git ignores matches nothing (the policy check refuses it with a reason).
    assert not GuardMatcher(["#x", "", "a[b", "/"]).matches("a[b")


# ---------------------------------------------------------------------------------------------
# Linear work, whatever the name


def steps(pattern: str, path: str) -> tuple[bool, int]:
    matcher = GuardMatcher([pattern])
    matched = matcher.matches(path)
    return matched, matcher.work.steps


def test_many_stars_and_a_long_name_take_linear_work() -> None:
    # With pathspec's regexes the first name took the hook 21 s (backtracking on underscores).
    pattern = "model/*_*_*_*.ckpt"
    for name, matched in [
        ("_" * 600 + ".ckptx", False),
        ("_" * 600 + ".ckpt", True),
        ("_" * 2 + "a" * 600 + ".ckpt", False),
    ]:
        found, work = steps(pattern, "model/" + name)
        assert found is matched
        assert work <= 4 * (len(name) + 6)


def test_a_hundred_stars_take_linear_work() -> None:
    # With pathspec's regexes this pattern ran for over a minute on train/x.py.
    pattern = "*" * 100 + "a"
    for path, matched in [("train/x.py", False), ("train/xa", True), ("b" * 5000, False)]:
        found, work = steps(pattern, path)
        assert found is matched
        assert work <= 4 * (len(path) + 2)


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(_TOKENS, min_size=1, max_size=12).map("".join), _PATH)
def test_work_is_bounded_by_name_times_pattern(segment: str, path: str) -> None:
    pattern = "d/**/" + segment
    _, work = steps(pattern, path)
    assert work <= 2 * (len(path) + 2) * (len(pattern) + 2)


# --------------------------------------------------------------------------------------------
# Links and submodules: what lies below a path that stands for a directory (issue 11)

_LINK_PATTERN = gitignore_patterns(["a", "b", "ckpt", "*", "**", "*.bin", "B", "é"])
_LINK_PATH = repository_paths(["a", "b", "ckpt", "x.bin", "A", "é"])
ELSEWHERE = "zz-elsewhere"  # a link's target directory, matched by no pattern above


@settings(max_examples=500, deadline=None)
@given(
    st.lists(_LINK_PATTERN, min_size=1, max_size=3),
    _LINK_PATH,
    st.lists(_LINK_PATH, min_size=1, max_size=4),
)
@example(["a/a", "!a/"], "a", ["a"])  # a file named under a directory negation stays guarded
@example(["a/a", "!b", "/b"], "b/b", ["a"])  # '/b' takes b/b/a through b; '!b' un-guards b/b
@example(["a", "b", "!a"], "b/a", ["a"])  # unanchored 'b' reaches below b/a: kept by its name
def test_a_guarded_name_below_a_link_is_reached(
    patterns: list[str], link: str, below: list[str]
) -> None:
    """Whenever a name below a link is guarded, the link's own path is guarded or reaches it,
    or the same name below the link's target is guarded by itself; and the hook's first stage
    keeps every link that reaches a guarded name for the exact stage."""
    patterns = [p for p in patterns if check_path_pattern(p) is None]
    if not any(not p.startswith("!") for p in patterns):
        return
    matcher = GuardMatcher(patterns)
    for rest in below:
        if matcher.matches(f"{link}/{rest}") and not matcher.matches(f"{ELSEWHERE}/{rest}"):
            assert matcher.matches(link) or matcher.reaches(link), (patterns, link, rest)
    if matcher.reaches(link):
        guard = Guard("g", tuple(patterns))
        include = [src for src, inc in (*guard.rules, *guard.folded_rules) if inc]
        guard_rules = path_rules(include)  # None: no literal, the first stage keeps all
        tops = stand_in_tops([*patterns, *folded_patterns(patterns)])
        link_change = PathChange("A", link, "000000", "120000")
        assert guard_rules is None or _may_be_guarded([link_change], guard_rules, tops), (
            patterns,
            link,
            tops,
        )


def test_reaches_names_the_directories_on_the_way_to_a_guard() -> None:
    matcher = GuardMatcher(["configs/train/**", "*.ckpt", "**/ckpt/*.bin"])
    reached = ["configs", "configs/train", "configs/train/x", "models/ckpt", "ckpt"]
    not_reached = ["docs", "README.md", "configs/other", "x/y"]
    assert all(matcher.reaches(path) for path in reached)
    assert not any(matcher.reaches(path) for path in not_reached)
    # With a negation, a link elsewhere can show un-guarded names (docs -> configs/train/tmp
    # shows tmp's m.ckpt as docs/m.ckpt): '*.ckpt' reaches below every link not un-guarded.
    negated = GuardMatcher(["configs/train/**", "*.ckpt", "**/ckpt/*.bin", "!configs/train/tmp/**"])
    assert all(negated.reaches(path) for path in [*reached, "docs", "x/y"])
    assert not negated.reaches("configs/train/tmp") and not negated.reaches("configs/train/tmp/a")
    assert stand_in_tops(["configs/train/**", "*.ckpt"]) == ["configs"]
    assert stand_in_tops(["configs/train/**", "*.ckpt", "!configs/train/tmp/**"]) is None
    assert stand_in_tops(["**/ckpt/*.bin"]) is None and stand_in_tops(["*/x/**"]) is None


def test_guards_match_names_folded_as_checkouts_fold_them() -> None:
    guard = Guard("g", ("train/**", "modèle/**", "!train/README.md"))
    for path in ("TRAIN/loop.py", "Train/x", "mode\u0300le/net.py", "MODÈLE/net.py"):
        assert guard.matches(path), path
    assert not guard.matches("train/README.md") and not guard.matches("training/x")
    # Either reading guarding a name is enough: the negation is written for README.md only.
    assert guard.matches("train/readme.MD")
    assert fold_path("STRASSE") == fold_path("straße") == "strasse"
    assert fold_path("\u212aeys") == "keys"  # KELVIN SIGN
    assert folded_patterns(["[Z-a]", "A/**"]) == ["a/**"]  # '[z-a]' is no longer a range
    assert guard.covers("TRAIN") and guard.covers("train") and not guard.covers("docs")
