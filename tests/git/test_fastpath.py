"""The hook's quick parts decide exactly as slow references do, on generated histories.

- Changed paths and classification (with and without diff-tree limited to the guards'
  directories): git plumbing (rev-list + diff-tree --stdin) against a reference that walks
  every tree with pygit2 and compares entries, over random histories with merges, renames,
  mode and type changes, deletions, root commits, odd and non-UTF-8 names, and force pushes.
- Guard matching: GuardMatcher (linear, no regexes) against pathspec's GitIgnoreSpec.
- Catalog addresses: the dictionary lookup against one full-match PatternSet of every rule.
- The settings cache: a warm cache yields the same policy, guards and catalog as parsing.
"""

from __future__ import annotations

from pathlib import Path

import pygit2
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gate.git.catalog import PatternSet, catalog_glob, load_catalog, login_regex
from gate.git.classify import classify, pathspec_of
from gate.git.detection import AgentDetector
from gate.git.plumbing import Git
from gate.git.policy import Guard, GuardMatcher, compile_path_patterns, parse_policy
from gate.git.refs import RefUpdate
from gate.git.settings import CACHE_NAME, load_state
from tests.support.histories import (
    POLICY,
    build,
    gitignore_patterns,
    reference_commits,
    reference_paths,
    reference_stand_ins,
    repository_paths,
)


@pytest.mark.parametrize("seed", range(6))
def test_changed_paths_match_tree_walk(tmp_path: Path, seed: int) -> None:
    bare, tips = build(tmp_path, seed)
    repo = pygit2.Repository(str(bare))
    git = Git(str(bare), {"PATH": "/usr/bin:/bin:/usr/local/bin"})
    every = reference_commits(repo, tips["refs/heads/new"], [])
    fast = dict(git.changed_paths(every))
    for oid in every:
        expected = reference_paths(repo, oid)
        got = {change.path for change in fast.get(oid, [])}
        assert got == expected, f"seed {seed}, commit {oid}"


# Every guard pattern has a literal directory: diff-tree is limited to those trees.
PRUNED_POLICY = b"""\
protected_refs = ["refs/heads/main"]

[[guard]]
name = "training"
paths = ["train/**", "!train/scratch/**", "/dir/inner.py"]

[[guard]]
name = "odd"
paths = ["we ird/**", "caf\xc3\xa9/*.py"]

[agents]
pushers = ["agent-*"]
"""


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("pusher", [None, "agent-x"])
@pytest.mark.parametrize("policy_text", [POLICY, PRUNED_POLICY], ids=["policy", "pruned"])
def test_classification_matches_slow_path(
    tmp_path: Path, seed: int, pusher: str | None, policy_text: bytes
) -> None:
    bare, tips = build(tmp_path, seed)
    repo = pygit2.Repository(str(bare))
    policy = parse_policy(policy_text)
    assert bool(pathspec_of(policy)) == (policy_text is PRUNED_POLICY)
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
        for oid in reference_commits(repo, update.new, hide):
            commit = git_commit(git, oid)
            if not any(s.kind != "ref" for s in detector.signals(commit, update.ref)):
                continue
            guards = reference_guards(policy, repo, oid)
            if guards:
                expected[oid] = guards
        assert {h.key: h.guards for h in verdict.held_commits} == expected
        if pusher and not update.is_create and update.old == new:
            removed = reference_commits(repo, update.old, [update.new])
            guards = {}
            for oid in removed:
                for name, paths in reference_guards(policy, repo, oid).items():
                    guards[name] = sorted({*guards.get(name, ()), *paths})
            guards = {g.name: guards[g.name] for g in policy.guards if g.name in guards}
            assert (verdict.held_change is not None) == bool(guards)
            if guards:
                assert verdict.held_change.guards == guards


def reference_guards(policy, repo: pygit2.Repository, oid: str) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """Guards by the tree walk's paths, links and submodules counting for what lies below."""
    return policy.guards_for_paths(reference_paths(repo, oid), reference_stand_ins(repo, oid))


def git_commit(git: Git, oid: str):  # type: ignore[no-untyped-def]
    """The commit record itself (parsed from its raw object: not the path under test)."""
    return next(iter(git.commits([oid], [])))


_PATTERN = gitignore_patterns(["a", "b", "train", "x.py", "m.ckpt", "dir", "é", "*", "**", "?"])
_PATH = repository_paths(["a", "b", "train", "x.py", "m.ckpt", "dir", "é"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PATTERN, min_size=1, max_size=5), st.lists(_PATH, min_size=1, max_size=10))
@example(["a/a", "!*/"], ["a/a/a"])  # unanchored regexes: pathspec searches, it does not match
def test_guard_matcher_agrees_with_pathspec(patterns: list[str], paths: list[str]) -> None:
    spec = compile_path_patterns(patterns)
    matcher = GuardMatcher(patterns)
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
    from gate.git.config import HookConfig

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
    bare, tips = build(tmp_path, 0)
    git = Git(str(bare), {"PATH": "/usr/bin:/bin:/usr/local/bin"})
    history = git.commit_ids([tips["refs/heads/new"]], [])
    ids = (history * (5_000 // len(history) + 1))[:5_000]
    once = {oid for oid, _ in git.changed_paths(history)}
    assert once and {oid for oid, _ in git.changed_paths(ids)} == once
