"""The classifier's no-import first stage (gate.git.prefilter) never lets through what the
exact stage would hold, and the one pipeline decides as slow references do.

- Required literals (gate.git.literals): every text a pattern matches satisfies the pattern's
  rules, for generated regexes and globs, the built-in catalog's own examples and the guards.
- Case folding: every character re.IGNORECASE equates with an ASCII one folds onto it.
- Protected-ref patterns: the one matcher against a plain regex, on ASCII and non-ASCII names.
- Decisions: on generated histories (merges, root commits, force pushes, odd and non-UTF-8
  names), with human, agent and mixed commits and pushers, the hook's pipeline (first stage
  with the compiled prefilters, exact stage on what it kept) holds exactly what the exact
  stage holds with every commit let through; whenever the first stage settles a push, nothing
  is held; and it does settle human pushes and agent pushes that touch no guarded path.
- Changed or damaged compiled settings are never used stale.
"""

from __future__ import annotations

import ast
import fnmatch
import os
import re
import warnings
from pathlib import Path

import pygit2
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gate.errors import GateError
from gate.git.catalog import load_catalog
from gate.git.classify import classify
from gate.git.config import HookConfig
from gate.git.detection import AgentDetector
from gate.git.literals import commit_rules, group_rules, path_rules
from gate.git.plumbing import Git, parse_raw_diff
from gate.git.pre_receive import decide
from gate.git.prefilter import (
    ARTIFACT_NAME,
    FirstStage,
    _keep,
    _matching,
    _may_be_guarded,
    _weigh,
    find_pusher,
    first_stage,
    fold,
    live_rules,
    load_artifact,
    may_match,
    star_globs,
)
from gate.git.refs import RefUpdate, is_protected, parse_ref_updates, ref_matches, star_match
from gate.git.settings import load_state
from tests.support.histories import (
    POLICY,
    build,
    ref_tips,
    reference_commits,
    reference_ref_regex,
    reference_stand_ins,
)
from tests.support.marks import catalog_examples, corpus, marked_history

PATH_ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


# --------------------------------------------------------------------------------------------
# Required literals


def test_fold_maps_every_ignorecase_equivalent_of_ascii() -> None:
    any_ascii = re.compile("[\x00-\x7f]", re.IGNORECASE)
    for code in range(0x80, 0x110000):
        char = chr(code)
        if 0xD800 <= code <= 0xDFFF or not any_ascii.fullmatch(char):
            continue
        for ascii_char in map(chr, range(0x80)):
            if re.fullmatch(re.escape(ascii_char), char, re.IGNORECASE):
                assert fold(char) == ascii_char.lower(), f"U+{code:04X} ~ {ascii_char!r}"


@given(st.text(alphabet="aZ\u00e9\u00c9\u0130\u0131\u017f\u212a\u4e2d\U0001f600 @"))
def test_fold_of_any_text_is_the_translation_then_lower(text: str) -> None:
    # The shortcut (no translate when none of the four characters is there) changes nothing.
    assert fold(text) == text.translate({0x130: "i", 0x131: "i", 0x17F: "s", 0x212A: "k"}).lower()


_ALPHABET = "abAB-K\u212a\u017fs\u0131\u0130i: <>\n."
_ATOM = st.one_of(
    st.sampled_from(list(_ALPHABET)).map(re.escape),
    st.sampled_from([".", "[ab]", "[[]", r"\s", r"\S", "[^a]", "^", "$", r"\b"]),
)


def _regex() -> st.SearchStrategy[str]:
    """Regexes with at least one literal run somewhere (else there is nothing to check)."""
    return st.tuples(
        _part(), st.text(alphabet=_ALPHABET, min_size=1, max_size=3).map(re.escape), _part()
    ).map("".join)


def _part() -> st.SearchStrategy[str]:
    return st.recursive(
        _ATOM,
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=4).map("".join),
            st.tuples(inner, inner).map(lambda t: f"(?:{t[0]}|{t[1]})"),
            st.tuples(inner, st.sampled_from(["*", "+", "?", "{2}", "{0,2}", "+?"])).map(
                lambda t: f"(?:{t[0]}){t[1]}"
            ),
            inner.map(lambda r: f"(?i:{r})"),
            inner.map(lambda r: f"(?-i:{r})"),
            inner.map(lambda r: f"(?={r})"),
        ),
        max_leaves=8,
    )


def _compile(source: str, flags: int) -> re.Pattern[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # "[[]", as the catalog writes it
        return re.compile(source, flags)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_regex(), st.data())
def test_commit_rules_hold_for_every_match(source: str, data: st.DataObject) -> None:
    try:
        compiled = _compile(source, re.IGNORECASE | re.MULTILINE)
    except re.error:
        assume(False)
    rules = commit_rules([source])
    assume(rules is not None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        text = data.draw(st.from_regex(compiled, fullmatch=False))
    assert compiled.search(text)
    assert may_match(fold(text), rules), (source, text, rules)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_regex(), st.data())
def test_path_rules_hold_for_every_match(source: str, data: st.DataObject) -> None:
    try:
        compiled = _compile(source, 0)
    except re.error:
        assume(False)
    rules = path_rules([source])
    assume(rules is not None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        text = data.draw(st.from_regex(compiled, fullmatch=False))
    assert may_match(text, rules), (source, text, rules)


_GLOB = st.text(alphabet="ab*?[]!-.@K\u212a\u017fs\u0131i", min_size=1, max_size=8)


@settings(max_examples=400, deadline=None)
@given(_GLOB, st.text(alphabet="abAB.@-K\u212a\u017fsS\u0131\u0130iI", max_size=10))
def test_policy_globs_reduce_soundly(glob: str, text: str) -> None:
    source = fnmatch.translate(glob)
    rules = commit_rules([source])
    if rules is not None and re.fullmatch(source, text, re.IGNORECASE):
        assert may_match(fold(text), rules)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.text(alphabet="ab*-.@K[?", min_size=1, max_size=8), min_size=1, max_size=3),
    st.text(alphabet="abAB.@-K\u212a\u017fsS\u0131\u0130iI*", max_size=10),
)
def test_star_globs_match_as_fnmatch_ignorecase(patterns: list[str], text: str) -> None:
    """The pusher globs' exact match without re agrees with the regex the detector uses."""
    globs = star_globs(patterns)
    if globs is None:
        assert any(c in p for p in patterns for c in "?[")
        return
    expected = any(re.fullmatch(fnmatch.translate(p), text, re.IGNORECASE) for p in patterns)
    assert any(star_match(glob, fold(text)) for glob in globs) == expected


_CATALOG_RULES = commit_rules([*load_catalog().evidence_sources, "gpgsig"]) or []
_CATALOG_PIECES = sorted(
    {piece for trigger, clauses in _CATALOG_RULES for part in (trigger, *clauses) for piece in part}
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(_CATALOG_PIECES),
            st.sampled_from(_CATALOG_PIECES).map(lambda piece: piece[1:-1]),  # near misses
            st.text(alphabet="abcdeghinoprty@.-[]+ \n", max_size=12),
        ),
        max_size=8,
    ).map("".join)
)
def test_grouped_rules_find_the_same_live_rules(text: str) -> None:
    """A hub searched once for its group (gate.git.literals.group_rules) rules out only what
    testing each rule would: on the catalog's own rules, and texts made of their pieces."""
    groups = group_rules(_CATALOG_RULES)
    assert sorted(rule for _, members in groups for rule in members) == sorted(_CATALOG_RULES)
    assert len(groups) > 2, "the catalog's rules share hubs"
    for hub, members in groups:
        assert all(hub in piece for trigger, _ in members for piece in trigger)
    expected = [rule for rule in _CATALOG_RULES if may_match(text, (rule,))]
    assert sorted(live_rules(text, groups)) == sorted(expected)


def _record(text: str) -> str:
    return f"{'a' * 40}\ntree {'b' * 40}\n{text}\n"


@pytest.mark.parametrize(
    "text",
    [
        # one agent's address in every record: its hub's neighbourhoods are all alike
        "\0".join(
            _record(f"change {n}\n\n    co-authored-by: claude <noreply@anthropic.com>")
            for n in range(3000)
        ),
        # more kinds of neighbourhood than NEAR_HUB_LIMIT, then one real trigger
        "\0".join(_record(f"author u{n} <u@noreply{n}.example>") for n in range(200))
        + "\0"
        + _record("author b <noreply@aider.chat>"),
        # a trigger with characters before its hub, right at the start and at the end
        "claude[bot]@users.noreply.github.com x [bot]@users.noreply.",
        "x" * 5000 + "noreply",
        "",
    ],
    ids=["alike", "many-kinds", "edges", "hub-at-end", "empty"],
)
def test_live_rules_near_hubs_are_exactly_the_rules_searched_one_by_one(text: str) -> None:
    groups = group_rules(_CATALOG_RULES)
    expected = [rule for rule in _CATALOG_RULES if may_match(text, (rule,))]
    assert sorted(live_rules(text, groups)) == sorted(expected)


_AROUND = st.text(alphabet="abe\0", max_size=3)


@settings(max_examples=300, deadline=None)
@given(
    hub=st.sampled_from(["aaaaaa", "abaaba", "claude", "abcabc"]),
    around=st.lists(st.tuples(_AROUND, _AROUND), min_size=9, max_size=14),
    clauses=st.lists(st.text(alphabet="abe", min_size=1, max_size=2), max_size=2),
    text=st.lists(st.sampled_from(["aaaaaa", "abaaba", "claude", "abc", "a", "b", "e", "\0"])).map(
        "".join
    ),
)
def test_live_rules_near_hubs_agree_on_generated_groups(
    hub: str, around: list[tuple[str, str]], clauses: list[str], text: str
) -> None:
    """Groups big enough to be judged near their hub, with hubs whose occurrences overlap
    ("aaaaaa" twice in "aaaaaaa") or sit side by side, trigger strings ending or starting with
    the hub, and some holding a NUL: the live rules are those searched for one by one."""
    rules = [
        ((before + hub + after,), tuple((c,) for c in clauses[: index % 3]))
        for index, (before, after) in enumerate(dict.fromkeys(around))
    ]
    assume(len(rules) > 8)
    expected = [rule for rule in rules if may_match(text, (rule,))]
    assert sorted(live_rules(text, [(hub, rules)])) == sorted(expected)


@pytest.mark.parametrize(
    ("hub", "piece", "text"),
    [
        ("claude", "eclaude", "claudeclaude"),  # side by side: the char before is the hub's
        ("claude", "claudexclaude", "claudexclaude"),  # what follows runs on into the next
        ("aaaaaa", "aaaaaab", "aaaaaaaab"),  # overlapping: only the third is followed by b
        ("aaaaaa", "baaaaaa", "xbaaaaaaa"),
    ],
)
def test_live_rules_near_hubs_find_close_occurrences(hub: str, piece: str, text: str) -> None:
    fillers = [(f"{'z' * n}{hub}",) for n in range(1, 10)]
    rules = [((piece,), ()), *((filler, ()) for filler in fillers)]
    assert live_rules(text, [(hub, rules)]) == [((piece,), ())]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(
            st.one_of(
                st.sampled_from(_CATALOG_PIECES),
                st.text(alphabet="abcdeghinoprty@.-[]+ \n", max_size=12),
            ),
            max_size=6,
        ).map("".join),
        max_size=12,
    )
)
def test_records_are_matched_rule_by_rule_as_one_by_one(texts: list[str]) -> None:
    """The records a chunk's live rules may match, found rule by rule (``_matching``), are
    those ``may_match`` finds record by record."""
    rules = live_rules("\0".join(texts), group_rules(_CATALOG_RULES))
    assert _matching(texts, rules) == {i for i, t in enumerate(texts) if may_match(t, rules)}


_GUARD_PATTERNS = ["Train/**", "configs/train/**", "*.CKPT", "caf\u00e9/**", "\u212aey/*"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(
            st.sampled_from(
                [
                    "train/",
                    "TRAIN/",
                    "configs/",
                    "train",
                    "x.ckpt",
                    "y.Ckpt",
                    "caf\u00e9/",
                    "CAF\u00c9/",
                    "key/",
                    "KEY/",
                    "\u212aey/",
                    "a",
                    "b/",
                    "\xff",
                ]
            ),
            min_size=1,
            max_size=4,
        ).map("".join),
        min_size=1,
        max_size=8,
    )
)
def test_a_batch_tested_whole_keeps_every_commit_a_guard_may_match(paths: list[str]) -> None:
    """diff-tree's output tested as a whole (lowered bytes when it is ASCII, the text and its
    folded form otherwise) keeps every commit the per-path test keeps."""
    from gate.git.policy import parse_policy

    paths_line = ", ".join(f'"{pattern}"' for pattern in _GUARD_PATTERNS)
    policy = parse_policy(
        f'protected_refs = ["refs/heads/main"]\n[[guard]]\nname = "g"\npaths = [{paths_line}]\n'.encode()
    )
    rules = path_rules(
        [
            source
            for guard in policy.guards
            for source, include in (*guard.rules, *guard.folded_rules)
            if include
        ]
    )
    assert rules is not None
    blob = "0" * 40
    output = b"".join(
        f"{n:040x}\0:100644 100644 {blob} {blob} M\0".encode()
        + path.encode("utf-8", "surrogateescape")
        + b"\0"
        for n, path in enumerate(paths, 1)
    )
    stage = FirstStage([])
    _weigh(output, rules, None, stage)
    expected = {
        oid
        for oid, changes in parse_raw_diff(output).items()
        if _may_be_guarded(changes, rules, None)
    }
    assert set(stage.suspects) == expected


def test_catalog_rules_keep_every_example_and_the_full_path_agrees() -> None:
    catalog = load_catalog()
    rules = commit_rules(catalog.evidence_sources)
    assert rules is not None, "every catalog rule must have a literal: the fast path needs it"
    for entry in catalog.entries:
        for example in entry.examples:
            raw = (
                "".join(
                    f"{kind} {example[kind]} 1700000000 +0000\n"
                    for kind in ("author", "committer")
                    if kind in example
                )
                + "\n"
                + "".join(f"    {line}\n" for line in example.get("message", "").split("\n"))
            )
            for variant in (raw, raw.upper(), raw.replace("k", "\u212a")):
                if "ref" in example and "message" not in example and "author" not in example:
                    continue  # a ref alone is no evidence
                assert may_match(fold(variant), rules), (entry.name, variant)


@pytest.mark.parametrize("pusher", [None, "dana"])
def test_pipeline_and_exact_stage_hold_every_mark_alike(tmp_path: Path, pusher: str | None) -> None:
    """One history with a commit per real mark, look-alike and catalog example, each touching
    a guarded path: the hook's pipeline (the literal prefilter first) holds exactly what the
    exact stage holds, and that is every agent's commit and no person's."""
    commits = corpus() + catalog_examples()
    bare = tmp_path / "marks.git"
    base, new = marked_history(bare, commits, "train/loop.py")
    _install_settings(bare, POLICY)
    env = dict(PATH_ENV, **({"GL_USERNAME": pusher} if pusher else {}))
    update = [RefUpdate(base, new, "refs/heads/main")]
    verdicts, _ = decide(_stdin(update), env, str(bare))
    exact = _exact_everything(bare, update, pusher)
    assert _held(verdicts) == _held(exact)
    [verdict] = exact
    held = {h.commit.id for h in verdict.held_commits}
    ids = Git(str(bare), env).commit_ids([new], [base])[::-1]
    assert len(ids) == len(commits)
    for oid, marked in zip(ids, commits, strict=True):
        assert (oid in held) == (marked.agent is not None), marked.source


def test_guard_rules_cover_the_policy_guards() -> None:
    from gate.git.policy import parse_policy

    policy = parse_policy(POLICY)
    include = [source for guard in policy.guards for source, inc in guard.rules if inc]
    rules = path_rules(include)
    assert rules is not None
    for path in ("train/loop.py", "x/m.ckpt", "we ird/a", "caf\u00e9/x.py", "lnk"):
        assert may_match(path, rules), path
    assert not may_match("docs/guide.md", rules)


# --------------------------------------------------------------------------------------------
# Protected refs

_REF_PART = st.sampled_from(["main", "release", "v1", "a", "x-y", "*", "r*", "*z", "a*b", "**"])


@settings(max_examples=500, deadline=None)
@given(
    st.lists(_REF_PART, min_size=1, max_size=4),
    st.lists(st.sampled_from(["main", "release", "v1", "a", "ab", "azb", "rz", ""]), max_size=5),
)
def test_ref_matcher_agrees_with_the_policy_regex(parts: list[str], names: list[str]) -> None:
    pattern = "refs/" + "/".join(parts)
    ref = "refs/" + "/".join(names)
    expected = re.fullmatch(reference_ref_regex(pattern), ref) is not None
    assert ref_matches(pattern, ref) == expected, (pattern, ref)


# --------------------------------------------------------------------------------------------
# Decisions against the full path


def _install_settings(bare: Path, policy: bytes) -> Path:
    policy_file = bare / "policy.toml"
    policy_file.write_bytes(policy)
    config = HookConfig("http://127.0.0.1:9", str(bare / "token"), str(policy_file), "r")
    (bare / "gate.toml").write_text(config.to_toml())
    load_state(str(bare))  # compiles the settings
    assert load_artifact(str(bare)) is not None
    return policy_file


def _settles(stdin: bytes, env: dict[str, str], bare: Path) -> bool:
    """Whether the first stage alone settles the push (what the hook does before anything)."""
    artifact = load_artifact(str(bare))
    if artifact is None or "pathspec" not in artifact:
        return False
    patterns = artifact["protected_refs"]
    protected = [u for u in parse_ref_updates(stdin) if is_protected(u.ref, patterns)]
    if not protected:
        return True
    git = Git(str(bare), env)
    pusher = find_pusher(env)
    stage = first_stage(git, protected, patterns, artifact["pathspec"], artifact["rules"], pusher)
    return stage.settled


def _held(verdicts: list) -> dict:  # type: ignore[type-arg]
    return {
        v.update.ref: (
            sorted((h.key, sorted(h.guards.items())) for h in v.held_commits),
            None if v.held_change is None else sorted(v.held_change.guards.items()),
        )
        for v in verdicts
        if v.holds
    }


def _exact_everything(bare: Path, updates: list[RefUpdate], pusher: str | None) -> list:  # type: ignore[type-arg]
    """The exact stage with every commit and path let through (no prefilter)."""
    state = load_state(str(bare))
    env = dict(PATH_ENV)
    detector = AgentDetector(state.policy.agents, pusher, state.catalog())
    return classify(Git(str(bare), env), state.policy, updates, detector)


def _full_path_holds(bare: Path, updates: list[RefUpdate], pusher: str | None) -> bool:
    return any(v.holds for v in _exact_everything(bare, updates, pusher))


def _stdin(updates: list[RefUpdate]) -> bytes:
    return "".join(f"{u.old} {u.new} {u.ref}\n" for u in updates).encode()


DOCS_ONLY_POLICY = b"""\
protected_refs = ["refs/heads/main"]

[[guard]]
name = "weights"
paths = ["nothing-here/**", "*.never"]

[agents]
pushers = ["agent-*"]
"""

# Guards whose every pattern has a literal directory: diff-tree prunes to those trees.
PRUNED_POLICY = b"""\
protected_refs = ["refs/heads/main", "refs/heads/rel*"]

[[guard]]
name = "training"
paths = ["train/**", "!train/scratch/**", "/dir/inner.py", "caf\xc3\xa9/*.py"]

[agents]
pushers = ["agent-*"]
"""


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("agent_share", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("pusher", [None, "dana", "agent-x"])
@pytest.mark.parametrize(
    "policy", [POLICY, DOCS_ONLY_POLICY, PRUNED_POLICY], ids=["guards", "few-guards", "pruned"]
)
def test_pipeline_holds_what_the_exact_stage_holds(
    tmp_path: Path, seed: int, agent_share: float, pusher: str | None, policy: bytes
) -> None:
    bare, tips = build(tmp_path, seed, agent_share)
    _install_settings(bare, policy)
    base, new, other = tips["refs/heads/base"], tips["refs/heads/new"], tips["refs/heads/other"]
    zero = "0" * 40
    pushes = [
        [RefUpdate(base, new, "refs/heads/main")],  # fast-forward
        [RefUpdate(zero, other, "refs/heads/main2")],  # unprotected: never inspected
        [RefUpdate(base, other, "refs/heads/main")],  # history rewrite
        [RefUpdate(base, zero, "refs/heads/main")],  # deletion
        [RefUpdate(base, new, "refs/heads/main"), RefUpdate(zero, other, "refs/heads/x")],
        [RefUpdate(base, new, "refs/heads/main"), RefUpdate(zero, other, "refs/heads/rel-1")],
    ]
    env = dict(PATH_ENV)
    if pusher:
        env["GL_USERNAME"] = pusher
    # Links and submodules go on to the exact stage, which weighs what lies below them.
    repo = pygit2.Repository(str(bare))
    links = any(reference_stand_ins(repo, oid) for oid in reference_commits(repo, new, [base]))
    for updates in pushes:
        settled = _settles(_stdin(updates), env, bare)
        verdicts, _ = decide(_stdin(updates), env, str(bare))
        exact = _exact_everything(bare, updates, pusher)
        assert _held(verdicts) == _held(exact), updates
        assert not (settled and verdicts), f"the first stage passed a held push: {updates}"
        if agent_share == 0.0 and pusher != "agent-x":
            assert settled, f"a human push reached the exact stage: {updates}"
        if policy is DOCS_ONLY_POLICY and updates[0].new == new and not links:
            assert settled, "agent commits that touch no guarded path should settle at once"


def test_stale_or_damaged_settings_are_never_used(tmp_path: Path) -> None:
    bare, tips = build(tmp_path, 1, agent_share=1.0)
    policy_file = _install_settings(bare, DOCS_ONLY_POLICY)
    update = [RefUpdate(tips["refs/heads/base"], tips["refs/heads/new"], "refs/heads/main")]
    assert _settles(_stdin(update), PATH_ENV, bare)
    # The admin guards everything: the compiled settings are stale until recompiled.
    policy_file.write_bytes(DOCS_ONLY_POLICY.replace(b'"nothing-here/**"', b'"**"'))
    assert not _settles(_stdin(update), PATH_ENV, bare)
    assert decide(_stdin(update), PATH_ENV, str(bare))[0], "held once the edit is seen"
    assert not _settles(_stdin(update), PATH_ENV, bare), "'**' has no literal: exact stage"
    # Damaged compiled settings are a miss, not an error.
    (bare / ARTIFACT_NAME).write_bytes(b"\x00garbage")
    assert not _settles(_stdin(update), PATH_ENV, bare)
    assert decide(_stdin(update), PATH_ENV, str(bare))[0]
    # Odd input on stdin, or a git failure: gate cannot decide, and says so.
    policy_file.write_bytes(DOCS_ONLY_POLICY)
    load_state(str(bare))
    with pytest.raises(GateError, match="cannot parse ref update line 1"):
        decide(b"not a ref line\n", PATH_ENV, str(bare))
    missing = [RefUpdate(tips["refs/heads/base"], "f" * 40, "refs/heads/main")]
    with pytest.raises(GateError, match="git rev-list failed"):
        decide(_stdin(missing), PATH_ENV, str(bare))


def test_an_edited_gate_module_recompiles_the_settings(tmp_path: Path) -> None:
    """The key stamps every module file under gate/git, not a hand-kept list (checked on a
    copy of the package: other tests run from the real one meanwhile)."""
    import shutil
    import subprocess
    import sys

    import gate

    copy = tmp_path / "pkg" / "gate"
    shutil.copytree(Path(gate.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    bare, _ = build(tmp_path, 1)
    policy_file = bare / "policy.toml"
    policy_file.write_bytes(POLICY)
    config = HookConfig("http://127.0.0.1:9", str(bare / "token"), str(policy_file), "r")
    (bare / "gate.toml").write_text(config.to_toml())

    def run(code: str) -> str:
        boot = f"import sys; sys.path.insert(0, {str(copy.parent)!r}); {code}"
        return subprocess.run(
            [sys.executable, "-c", boot, str(bare)], capture_output=True, text=True, check=True
        ).stdout.strip()

    def fresh() -> str:
        return run(
            "from gate.git.prefilter import load_artifact; print(load_artifact(sys.argv[1]) is not None)"
        )

    run("from gate.git.settings import load_state; load_state(sys.argv[1])")
    assert fresh() == "True"
    modules = sorted((copy / "git").rglob("*.py"))
    assert len(modules) > 10
    for module in modules:
        before = module.stat()
        os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
        try:
            assert fresh() == "False", f"{module.name} is not in the key"
        finally:
            os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert fresh() == "True"


def test_other_encodings_and_invalid_utf8(tmp_path: Path) -> None:
    """git re-encodes messages with an encoding header; a commit that is not UTF-8 at all is
    let through to the exact stage, which decodes field by field."""
    import subprocess

    bare = tmp_path / "enc.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    latin1 = "Caf\xe9 fix\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n".encode("latin-1")
    stream = (
        b"commit refs/heads/a\nmark :1\n"
        b"author Ren\xe9 <r@example.com> 1700000000 +0000\n"
        b"committer Ren\xe9 <r@example.com> 1700000000 +0000\n"
        b"encoding ISO-8859-1\ndata %d\n%s\nM 100644 inline train/x.py\ndata 2\nx\n\n"
        b"commit refs/heads/b\nmark :2\n"
        b"author A <a@example.com> 1700000000 +0000\n"
        b"committer A <a@example.com> 1700000000 +0000\n"
        b"data 4\n\xff\xfe\n\nM 100644 inline g\ndata 2\nx\n\ndone\n"
    ) % (len(latin1), latin1)
    subprocess.run(["git", "fast-import", "--quiet", "--done"], cwd=bare, input=stream, check=True)
    _install_settings(bare, POLICY)
    for ref in ("refs/heads/a", "refs/heads/b"):
        oid = subprocess.run(
            ["git", "rev-parse", ref], cwd=bare, capture_output=True, text=True, check=True
        ).stdout.strip()
        update = [RefUpdate("0" * 40, oid, "refs/heads/main")]
        expected = ref == "refs/heads/a"
        # a: held. b is kept as a possible agent's (not UTF-8: the prefilter cannot read it),
        # but touches no path that could be guarded: settled all the same.
        assert _settles(_stdin(update), PATH_ENV, bare) == (not expected), ref
        assert bool(decide(_stdin(update), PATH_ENV, str(bare))[0]) == expected
        assert _full_path_holds(bare, update, None) == expected


def _linear_history(bare: Path, messages: list[bytes], paths: list[str]) -> str:
    """main with one root commit, then refs/heads/new with one commit per message."""
    import subprocess

    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    out = [b"commit refs/heads/main\nmark :1\nauthor A <a@example.com> 1700000000 +0000\n"]
    out.append(b"committer A <a@example.com> 1700000000 +0000\ndata 5\nroot\n\n")
    out.append(b"M 100644 inline README\ndata 2\nx\n\n")
    for n, (message, path) in enumerate(zip(messages, paths, strict=True), start=2):
        out.append(b"commit refs/heads/new\nmark :%d\n" % n)
        out.append(b"author A <a@example.com> %d +0000\n" % (1700000000 + n))
        out.append(b"committer A <a@example.com> %d +0000\n" % (1700000000 + n))
        out.append(b"data %d\n%s\n" % (len(message), message))
        out.append(b"from :%d\n" % (n - 1))
        out.append(b"M 100644 inline %s\ndata 3\n%d\n\n" % (path.encode(), n % 100))
    stream = b"".join(out) + b"done\n"
    subprocess.run(["git", "fast-import", "--quiet", "--done"], cwd=bare, input=stream, check=True)
    refs = {}
    for ref in ("refs/heads/main", "refs/heads/new"):
        refs[ref] = subprocess.run(
            ["git", "rev-parse", ref], cwd=bare, capture_output=True, text=True, check=True
        ).stdout.strip()
    return f"{refs['refs/heads/main']} {refs['refs/heads/new']} refs/heads/main\n"


AGENT_MESSAGE = b"change\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n"


@pytest.mark.parametrize("guarded_at", [None, 0, 250, 599])
def test_many_agent_commits_stream_into_diff_tree(tmp_path: Path, guarded_at: int | None) -> None:
    """600 candidate ids (24 KB) are more than a pipe surely holds: diff-tree runs alongside
    rev-list; one guarded path anywhere sends the push to the full path, which holds it."""
    paths = [f"docs/page{n % 50}.md" for n in range(600)]
    if guarded_at is not None:
        paths[guarded_at] = "train/loop.py"
    stdin = _linear_history(tmp_path / "many.git", [AGENT_MESSAGE] * 600, paths)
    _install_settings(tmp_path / "many.git", POLICY)
    fast = _settles(stdin.encode(), PATH_ENV, tmp_path / "many.git")
    assert fast == (guarded_at is None)
    held, _ = decide(stdin.encode(), PATH_ENV, str(tmp_path / "many.git"))
    assert bool(held) == (guarded_at is not None)
    old, new, ref = stdin.split()
    full = _full_path_holds(tmp_path / "many.git", [RefUpdate(old, new, ref)], None)
    assert full == (guarded_at is not None)


def test_a_push_of_agent_commits_stops_testing_their_text(tmp_path: Path) -> None:
    """Once nine in ten commits of a chunk look like an agent's, the rest of the push goes to
    diff-tree untested: an older human commit on a guarded path becomes a suspect, and the
    exact stage still holds only the agent's commit on a guarded path."""
    human = b"person's change\n"
    messages = [human] * 200 + [AGENT_MESSAGE] * 900  # rev-list lists the newest first
    paths = [f"docs/page{n % 50}.md" for n in range(1100)]
    paths[50] = "train/by-a-person.py"
    messages[60], paths[60] = AGENT_MESSAGE, "train/by-an-agent.py"
    bare = tmp_path / "mixed.git"
    stdin = _linear_history(bare, messages, paths)
    _install_settings(bare, POLICY)
    artifact = load_artifact(str(bare))
    assert artifact is not None
    old, new, ref = stdin.split()
    git = Git(str(bare), dict(PATH_ENV))
    stage = first_stage(
        git,
        [RefUpdate(old, new, ref)],
        artifact["protected_refs"],
        artifact["pathspec"],
        artifact["rules"],
        "dana",
    )
    ids = git.commit_ids([new], [old])[::-1]  # oldest first, as made
    assert {ids[50].encode(), ids[60].encode()} <= set(stage.suspects)
    held, _ = decide(stdin.encode(), {**PATH_ENV, "REMOTE_USER": "dana"}, str(bare))
    assert [h.commit.id for v in held for h in v.held_commits] == [ids[60]]
    assert _held(held) == _held(_exact_everything(bare, [RefUpdate(old, new, ref)], "dana"))

    # A person's push whose newest commits are an agent's keeps testing the rest (a sample of
    # 256 commits first): its older commit on a guarded path is no suspect.
    messages = [human] * 1000 + [AGENT_MESSAGE] * 100
    paths[60] = "docs/x.md"
    bare = tmp_path / "person.git"
    stdin = _linear_history(bare, messages, paths)
    _install_settings(bare, POLICY)
    assert _settles(stdin.encode(), {**PATH_ENV, "REMOTE_USER": "dana"}, bare)


def test_batched_diff_trees_keep_the_same_suspects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first stage weighs diff-tree's output a batch of commits at a time (memory bounded by
    a batch, not by the history), two batches' diff-trees running at once where two cores
    can be used: with batches of 7, 100 and one for all, the suspects are the same, in git's
    order, and they are exactly the commits git says touch train/."""
    import subprocess

    import gate.git.plumbing

    paths = [f"docs/page{n % 50}.md" for n in range(700)]
    for at in (0, 6, 7, 349, 693, 699):  # around batch edges, first and last
        paths[at] = "train/loop.py"
    stdin = _linear_history(tmp_path / "many.git", [AGENT_MESSAGE] * 700, paths)
    bare = tmp_path / "many.git"
    _install_settings(bare, POLICY)
    artifact = load_artifact(str(bare))
    assert artifact is not None
    old, new, ref = stdin.split()
    touched = subprocess.run(
        ["git", "log", "--format=%H", new, "--", "train/"],
        cwd=bare,
        capture_output=True,
        check=True,
    ).stdout.split()
    assert len(touched) == 6
    seen: dict[int, dict[bytes, list[tuple[str, ...]]]] = {}
    for batch in (7, 100, 10_000):
        monkeypatch.setattr(gate.git.plumbing, "BATCH_COMMITS", batch)
        monkeypatch.setattr(gate.git.plumbing, "BATCH_START_COMMITS", batch // 2)
        monkeypatch.setattr(gate.git.plumbing, "LANE_MIN_COMMITS", batch // 7)
        stage = first_stage(
            Git(str(bare), PATH_ENV),
            [RefUpdate(old, new, ref)],
            artifact["protected_refs"],
            artifact["pathspec"],
            artifact["rules"],
            None,
        )
        assert stage.count == 700
        seen[batch] = {
            oid: [tuple(getattr(c, f) for f in c.__slots__) for c in changes]
            for oid, changes in stage.suspects.items()
        }
        assert list(stage.suspects) == touched, batch
    assert seen[7] == seen[100] == seen[10_000]


def test_an_early_stop_leaves_no_git_running(tmp_path: Path) -> None:
    """rev-list fails after 600 agent commits (a parent is missing): the first stage stops with
    diff-tree already running and says why; no git process is left behind."""
    import subprocess

    bare = tmp_path / "stop.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)

    def git(*args: str, input: bytes = b"") -> str:
        return (
            subprocess.run(["git", *args], cwd=bare, input=input, capture_output=True, check=True)
            .stdout.decode()
            .strip()
        )

    tree = git("mktree")
    broken = git(
        "hash-object", "-t", "commit", "-w", "--stdin", "--literally",
        input=b"tree %s\nparent %s\nauthor A <a@example.com> 1 +0000\n"
        b"committer A <a@example.com> 1 +0000\n\nbroken\n" % (tree.encode(), b"b" * 40),
    )  # fmt: skip
    out = []
    for n in range(1, 601):
        out.append(b"commit refs/heads/new\nmark :%d\n" % n)
        out.append(b"committer A <a@example.com> %d +0000\n" % (1700000000 + n))
        out.append(b"data %d\n%s\n" % (len(AGENT_MESSAGE), AGENT_MESSAGE))
        out.append(b"from %s\n" % broken.encode() if n == 1 else b"")
        out.append(b"M 100644 inline docs/p%d.md\ndata 2\nx\n\n" % n)
    git("fast-import", "--quiet", "--done", input=b"".join(out) + b"done\n")
    _install_settings(bare, POLICY)
    stdin = f"{'0' * 40} {git('rev-parse', 'refs/heads/new')} refs/heads/main\n".encode()
    with pytest.raises(GateError, match=r"git rev-list failed: error: Could not read"):
        decide(stdin, PATH_ENV, str(bare))
    mine = subprocess.run(
        ["ps", "-o", "pid=,args=", "--ppid", str(os.getpid())], capture_output=True, text=True
    ).stdout
    assert "git" not in mine, mine


def _imports_of_push(bare: Path, messages: list[bytes], paths: list[str]) -> str:
    """What the hook answers to a push of one commit per message (each changing its path)
    onto main, and the modules it imported beyond Python's start-up (``-I -S``, as installed),
    with its compiled settings warm."""
    stdin = _linear_history(bare, messages, paths)
    _install_settings(bare, POLICY)
    return _answer_and_imports(
        "from gate.git.pre_receive import run_pre_receive\n"
        "from gate.git.plumbing import environ_of_process\n"
        f"answer = run_pre_receive({stdin.encode()!r}, environ_of_process(), {str(bare)!r})\n"
    )


def _answer_and_imports(code: str, stdin: str = "", env: dict[str, str] | None = None) -> str:
    """Run ``code`` (which sets ``answer``) in a Python started as the hook is (``-I -S``);
    what it prints: the answer and the modules imported beyond Python's start-up."""
    import subprocess
    import sys

    import gate

    root = str(Path(gate.__file__).resolve().parent.parent)
    return subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            f"import sys; sys.path.insert(0, {root!r}); before = set(sys.modules)\n"
            f"{code}print(answer, sorted(set(sys.modules) - before))\n",
        ],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout.strip()


def test_a_human_push_imports_nothing_beyond_python_start_up(tmp_path: Path) -> None:
    """The point of the fast path: no re, subprocess, typing, os... on a push that holds nothing
    (each costs the push about a millisecond or more)."""
    out = _imports_of_push(tmp_path / "h.git", [b"fix"] * 3, ["train/a.py"] * 3)
    assert (
        out
        == "(0, []) ['gate', 'gate.errors', 'gate.git', 'gate.git.plumbing', 'gate.git.pre_receive',"
        " 'gate.git.prefilter', 'gate.git.provenance', 'gate.git.refs']"
    )


@pytest.mark.parametrize(
    "pusher, remembered", [("agent-trainer", True), ("AGENT-\u212a", True), ("x-agent-y", False)]
)
def test_an_agent_account_push_is_remembered_without_the_detector(
    tmp_path: Path, pusher: str, remembered: bool
) -> None:
    """An agent account's push that the first stage settles is remembered (issue 12) with the
    policy's pusher globs matched exactly from the compiled settings: no detector, re,
    fnmatch or OpenSSL (hashlib) on the hook's path. A pusher that only has the globs'
    literals (``x-agent-y`` for ``agent-*``) is no agent account."""
    import subprocess

    from gate.git.provenance import AgentCommits

    bare = tmp_path / "p.git"
    stdin = _linear_history(bare, [b"docs"] * 2, ["docs/a.md", "docs/b.md"])
    subprocess.run(["git", "update-ref", "-d", "refs/heads/new"], cwd=bare, check=True)
    _install_settings(bare, POLICY)
    env = {**PATH_ENV, "GIT_DIR": str(bare), "REMOTE_USER": pusher}
    out = _answer_and_imports(
        "from gate.git.pre_receive import main\nanswer = main()\n", stdin, env
    )
    assert out.startswith("0 ["), out
    imported = set(ast.literal_eval(out.removeprefix("0 ")))
    never = {"re", "fnmatch", "hashlib", "_hashlib", "gate.git.detection", "gate.git.settings"}
    assert not imported & never, sorted(imported & never)
    new = stdin.split()[1]
    memory = AgentCommits.open(str(bare))
    found = memory is not None and memory.get(new.encode("ascii")) is not None
    assert found == remembered


@pytest.mark.parametrize(
    "message, path",
    [
        # the literal prefilter of the guard *.ckpt cannot rule the path out; the guard matcher
        # does, and the commit is then not even read
        (AGENT_MESSAGE, "notes/x.ckpt.txt"),
        # a person's commit to a guarded path that names Claude Code's address in its text:
        # read and matched (the address is looked up, no pattern has its literals), not held
        (b"Ask noreply@anthropic.com\n", "train/a.py"),
    ],
)
def test_an_exact_stage_push_imports_only_the_exact_stage(
    tmp_path: Path, message: bytes, path: str
) -> None:
    """A push the first stage cannot settle and the exact stage (detector, guard matcher)
    passes imports gate's own modules and ``unicodedata`` (a guard pattern of POLICY is not
    ASCII: its folded form), nothing else: no ``re`` (no catalog pattern is translated or
    compiled unless the text has its literals; the commit parser scans), no dataclasses,
    inspect, typing, subprocess, shutil, tempfile, json, tomllib, gate.wire, policy checker or
    signing (the commit is not signed). Issue 10: pushes that reach the exact stage cost no
    more than about twice Python's start-up."""
    out = _imports_of_push(tmp_path / "x.git", [message], [path])
    assert out.startswith("(0, []) ["), out
    imported = set(ast.literal_eval(out.removeprefix("(0, []) ")))
    never = {"dataclasses", "inspect", "typing", "subprocess", "shutil", "tempfile", "json"}
    never |= {"tomllib", "gate.wire", "gate.git.policy.check", "gate.git.signing"}
    never |= {"re", "fnmatch", "os", "functools", "collections", "enum"}
    assert not imported & never, sorted(imported & never)
    assert sorted(imported) == [
        "__future__",
        "gate",
        "gate.errors",
        "gate.git",
        "gate.git.catalog",
        "gate.git.classify",
        "gate.git.commits",
        "gate.git.config",
        "gate.git.detection",
        "gate.git.plumbing",
        "gate.git.policy",
        "gate.git.policy.errors",
        "gate.git.policy.model",
        "gate.git.policy.paths",
        "gate.git.pre_receive",
        "gate.git.prefilter",
        "gate.git.provenance",
        "gate.git.refs",
        "gate.git.settings",
        "gate.git.signals",
        "gate.git.values",
        "unicodedata",
    ]


def test_a_suspect_no_guard_matches_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exact stage reads a suspect's commit only when a guard matches one of its changes
    (nothing else could be held): the exact-stage case runs no git cat-file."""
    bare = tmp_path / "x.git"
    stdin = _linear_history(bare, [AGENT_MESSAGE], ["notes/x.ckpt.txt"])
    _install_settings(bare, POLICY)

    def no_read(self: Git, ids: object) -> dict:  # type: ignore[type-arg]
        raise AssertionError("read a commit no guard can hold")

    monkeypatch.setattr(Git, "raw_commits", no_read)
    assert not _settles(stdin.encode(), PATH_ENV, bare)  # it reaches the exact stage
    assert decide(stdin.encode(), PATH_ENV, str(bare))[0] == []


def test_the_full_path_reads_no_commit_no_guard_can_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every commit let through (``gate check``, no compiled prefilter), every commit
    with a change is a suspect: the commits' text is still read on the walk, so those no guard
    matches are weighed without a ``git cat-file`` each."""
    bare = tmp_path / "x.git"
    stdin = _linear_history(bare, [AGENT_MESSAGE] * 3, ["notes/a.md", "docs/b.md", "c.txt"])
    _install_settings(bare, POLICY)

    def no_read(self: Git, ids: object) -> dict:  # type: ignore[type-arg]
        raise AssertionError("read a commit no guard can hold")

    monkeypatch.setattr(Git, "raw_commits", no_read)
    old, new, ref = stdin.split()
    assert not _full_path_holds(bare, [RefUpdate(old, new, ref)], "agent-x")


def test_a_suspect_that_may_not_be_read_is_read_even_off_guarded_paths(tmp_path: Path) -> None:
    """A commit whose declared encoding leaves git showing no author cannot be decided
    (parse_commit refuses it): a suspect that declares an encoding is read, and refused, even
    when no guard matches its paths, as it was before suspects could go unread."""
    import subprocess

    bare = tmp_path / "x.git"
    stdin = _linear_history(bare, [b"x"], ["notes/x.ckpt.txt"])
    base, new, ref = stdin.split()

    def git(*args: str, input: bytes | None = None) -> str:
        return subprocess.run(
            ["git", *args], cwd=bare, input=input, capture_output=True, check=True
        ).stdout.decode()

    tree = git("rev-parse", f"{new}^{{tree}}").strip()
    for message in (b"Tune steps \n", b"Tune steps. \n"):
        raw = b"\n".join(
            [
                b"tree " + tree.encode(),
                b"parent " + base.encode(),
                b"author Cursor Agent <cursoragent@cursor.com> 1700000000 +0000",
                b"committer Ada Lovelace <ada@example.org> 1700000000 +0000",
                b"encoding UTF-16",
            ]
        )
        args = ["hash-object", "-t", "commit", "--literally", "-w", "--stdin"]
        oid = git(*args, input=raw + b"\n\n" + message).strip()
        if git("log", "-1", "--format=%ae%an", oid).strip() == "":
            break
    else:
        pytest.fail("git shows an author for both variants")
    _install_settings(bare, POLICY)
    update = f"{base} {oid} {ref}\n".encode()
    assert not _settles(update, PATH_ENV, bare)  # not UTF-8 text: kept for the exact stage
    with pytest.raises(GateError, match="leaves git showing no author"):
        decide(update, PATH_ENV, str(bare))


def test_a_mixed_chunk_keeps_what_each_commit_alone_keeps(tmp_path: Path) -> None:
    """rev-list's output is weighed a chunk at a time: a chunk holding a commit that is not
    UTF-8, one in another encoding and one with a character that folds to ASCII keeps exactly
    the commits each of them, weighed alone, keeps."""
    import subprocess

    bare = tmp_path / "mixed.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    agent = b"Co-Authored-By: Claude <noreply@anthropic.com>"
    commits = [  # (identity, encoding header, message, path)
        (b"Ren\xe9 <r@example.com>", b"", b"Caf\xe9 fix\n", b"train/a.py"),  # Latin-1, no header
        (b"A <a@example.com>", b"", b"change\n\n" + agent + b"\n", b"train/b.py"),
        (b"Ren\xe9 <r@example.com>", b"encoding ISO-8859-1\n", b"R\xe9sum\xe9\n", b"train/c.py"),
        (b"H <h@example.com>", b"", b"plain human fix\n", b"train/d.py"),
        (
            b"\xc4\xb0 <i@example.com>",
            b"",
            b"x\n\nCo-Authored-By: Claude <NOREPLY@ANTHROPIC.COM>\n".replace(b"K", b"\xe2\x84\xaa"),
            b"train/e.py",
        ),
        (b"H <h@example.com>", b"", b"docs only\n\n" + agent + b"\n", b"docs/f.md"),
        (b"H <h@example.com>", b"", "\u0130stanbul fix\n".encode(), b"train/g.py"),
    ]
    out = [b"commit refs/heads/main\nmark :1\ncommitter A <a@example.com> 1700000000 +0000\n"]
    out.append(b"data 5\nroot\n\nM 100644 inline README\ndata 2\nx\n\n")
    for n, (who, header, message, path) in enumerate(commits, start=2):
        out.append(b"commit refs/heads/new\nmark :%d\n" % n)
        out.append(
            b"author %s %d +0000\ncommitter %s %d +0000\n"
            % (who, 1700000000 + n, who, 1700000000 + n)
        )
        out.append(header + b"data %d\n%s\nfrom :%d\n" % (len(message), message, n - 1))
        out.append(b"M 100644 inline %s\ndata 3\n%d\n\n" % (path, n))
    subprocess.run(
        ["git", "fast-import", "--quiet", "--done"],
        cwd=bare,
        input=b"".join(out) + b"done\n",
        check=True,
    )
    _install_settings(bare, POLICY)
    artifact = load_artifact(str(bare))
    assert artifact is not None
    output = subprocess.run(
        ["git", "rev-list", "--header", "--encoding=none", "refs/heads/new", "^refs/heads/main"],
        cwd=bare,
        capture_output=True,
        check=True,
    ).stdout
    records = [record + b"\0" for record in output.split(b"\0") if record]
    assert len(records) == len(commits)
    rules = artifact["rules"]["agent_rules"]
    alone = [oid for record in records for oid in _keep(record, rules, FirstStage([]), None)]
    whole = FirstStage([])
    assert _keep(output, rules, whole, None) == alone
    assert whole.count == len(commits)
    # Newest first: the three agent's commits (the diff-tree step later drops the one on
    # docs/), the other encoding and Latin-1 without a header; not the human UTF-8 ones.
    newest_first = [record.partition(b"\n")[0] for record in records]
    assert [newest_first.index(oid) for oid in alone] == [1, 2, 4, 5, 6]


class _AncestryGit(Git):
    """The real git runner, noting every merge-base it is asked for."""

    def __init__(self, git_dir: str, env: dict[str, str]) -> None:
        super().__init__(git_dir, env)
        self.asked: list[tuple[str, str]] = []

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        self.asked.append((ancestor, descendant))
        return super().is_ancestor(ancestor, descendant)


@pytest.mark.parametrize("seed", range(3))
def test_an_agent_accounts_fast_forward_is_seen_in_the_walk(tmp_path: Path, seed: int) -> None:
    """A walked commit whose parent is the old tip shows the one update fast-forwards: git's
    merge-base runs only where the walk cannot tell, and every rewrite is still found."""
    bare, tips = build(tmp_path, seed, 0.5)
    _install_settings(bare, DOCS_ONLY_POLICY)
    artifact = load_artifact(str(bare))
    assert artifact is not None
    base, new, other = tips["refs/heads/base"], tips["refs/heads/new"], tips["refs/heads/other"]
    zero = "0" * 40
    cases = [
        ([RefUpdate(base, new, "refs/heads/main")], False, False),  # fast-forward
        ([RefUpdate(base, other, "refs/heads/main")], True, True),  # rewrite
        ([RefUpdate(new, base, "refs/heads/main")], True, True),  # rewound
        ([RefUpdate(base, zero, "refs/heads/main")], False, True),  # deletion
        ([RefUpdate(zero, new, "refs/heads/main")], False, False),  # creation
    ]
    for updates, asks, rewrites in cases:
        git = _AncestryGit(str(bare), dict(PATH_ENV))
        stage = first_stage(
            git,
            updates,
            artifact["protected_refs"],
            artifact["pathspec"],
            artifact["rules"],
            "agent-x",
        )
        assert bool(git.asked) == asks, updates
        slow = any(
            u.is_delete or (not u.is_create and not git.is_ancestor(u.old, u.new)) for u in updates
        )
        assert stage.rewrites == rewrites == slow, updates


def test_an_agent_accounts_push_looks_up_only_its_suspects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When every commit goes to diff-tree anyway (an agent account's push), the provenance
    memory is read for the suspects only, and still gives them their first pusher."""
    from gate.git.provenance import AgentCommits, remember

    bare, tips = build(tmp_path, 1, 0.0)
    _install_settings(bare, POLICY)
    artifact = load_artifact(str(bare))
    assert artifact is not None
    base, new = tips["refs/heads/base"], tips["refs/heads/new"]
    walked = Git(str(bare), dict(PATH_ENV)).commit_ids([new], [base])
    remember(str(bare), [("refs/heads/feature", "0" * 40, new, walked)], "agent-y")
    looked_up: list[bytes | str] = []
    get = AgentCommits.get

    def counting_get(self: AgentCommits, oid: bytes | str):  # type: ignore[no-untyped-def]
        looked_up.append(oid)
        return get(self, oid)

    monkeypatch.setattr(AgentCommits, "get", counting_get)
    env = {**PATH_ENV, "GIT_DIR": str(bare)}
    for pusher, every in (("agent-x", False), ("dana", True)):
        looked_up.clear()
        stage = first_stage(
            Git(str(bare), env),
            [RefUpdate(base, new, "refs/heads/main")],
            artifact["protected_refs"],
            artifact["pathspec"],
            artifact["rules"],
            pusher,
        )
        assert stage.suspects, "the history touches guarded paths"
        assert set(stage.suspects) <= set(stage.remembered)
        assert every or set(stage.remembered) == set(stage.suspects)
        assert all(r.pusher == "agent-y" for r in stage.remembered.values())  # type: ignore[attr-defined]
        assert len(looked_up) == (len(walked) if every else len(stage.suspects))


class _WalkCountingGit(Git):
    """The real git runner, counting the rev-list walks it starts."""

    def __init__(self, git_dir: str, env: dict[str, str]) -> None:
        super().__init__(git_dir, env)
        self.walks = 0

    def rev_list(self, options, include, exclude):  # type: ignore[no-untyped-def]
        self.walks += 1
        return super().rev_list(options, include, exclude)


def _pushed_history(tmp_path: Path, seed: int) -> tuple[Path, dict[str, str], list[str]]:
    """A history as a push brings it: refs/heads/new and the orphan refs/heads/other are the
    pushed tips, on no ref; main and base (unprotected) at the base; the range, newest first."""
    import subprocess

    bare, tips = build(tmp_path, seed, 0.5)
    _install_settings(bare, POLICY)
    for ref in ("refs/heads/new", "refs/heads/other"):
        subprocess.run(["git", "update-ref", "-d", ref], cwd=bare, check=True)
    walked = Git(str(bare), dict(PATH_ENV)).commit_ids(
        [tips["refs/heads/new"]], [tips["refs/heads/base"]]
    )
    return bare, tips, walked


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(
    "case",
    [
        "fast-forward",
        "side branch holds part",
        "tip on a side branch",
        "rewound",
        "rewrite",
        "created, main absent",
    ],
)
def test_an_agent_push_walks_its_range_once_and_keeps_its_new_commits(
    tmp_path: Path, seed: int, case: str
) -> None:
    """An agent account's one-ref push walks the commits new to the repository first, then
    only what is left of the range: the same range and suspects as one walk of it (checked
    against pygit2's revision walk), and exactly the new commits git lists, in its order."""
    import subprocess

    bare, tips, walked = _pushed_history(tmp_path, seed)
    artifact = load_artifact(str(bare))
    assert artifact is not None
    base, new, other = tips["refs/heads/base"], tips["refs/heads/new"], tips["refs/heads/other"]
    repo = pygit2.Repository(str(bare))
    zero = "0" * 40
    update = RefUpdate(base, new, "refs/heads/main")
    if case == "side branch holds part":
        subprocess.run(
            ["git", "update-ref", "refs/heads/side", walked[len(walked) // 2]], cwd=bare, check=True
        )
    elif case == "tip on a side branch":
        subprocess.run(["git", "update-ref", "refs/heads/side", new], cwd=bare, check=True)
    elif case == "rewound":
        update = RefUpdate(base, str(repo[base].parents[0].id), "refs/heads/main")
    elif case == "rewrite":
        update = RefUpdate(base, other, "refs/heads/main")
    elif case == "created, main absent":
        subprocess.run(["git", "update-ref", "-d", "refs/heads/main"], cwd=bare, check=True)
        update = RefUpdate(zero, new, "refs/heads/main")
    env = {**PATH_ENV, "GIT_DIR": str(bare)}
    protected = [
        oid for ref, oid in ref_tips(bare).items() if is_protected(ref, artifact["protected_refs"])
    ]
    stops = sorted({*protected, *([] if update.is_create else [update.old])})
    in_range = reference_commits(repo, update.new, stops)
    new_commits = reference_commits(repo, update.new, list(ref_tips(bare).values()))

    stages = []
    for tip in (None, update.new):
        git = _WalkCountingGit(str(bare), env)
        stage = first_stage(
            git,
            [update],
            artifact["protected_refs"],
            artifact["pathspec"],
            artifact["rules"],
            "agent-x",
            new_of=tip,
        )
        stages.append((stage, git.walks))
    (whole, one_walk), (split, walks) = stages
    assert one_walk == 1
    assert whole.new_commits is None
    assert split.count == whole.count == len(in_range)
    assert split.suspects.keys() == whole.suspects.keys()
    assert (split.rewrites, split.settled) == (whole.rewrites, whole.settled)
    git = Git(str(bare), dict(PATH_ENV))
    assert split.new_commits == git.commit_ids([update.new], [], ["--not", "--all"])
    assert sorted(split.new_commits) == sorted(new_commits)
    # One walk where the new commits are the whole range; two where a ref holds part of it.
    if set(in_range) - set(new_commits):
        assert walks == 2, case
    elif new_commits:
        assert walks == 1, case


@pytest.mark.parametrize("updates", ["one", "two"])
def test_an_agent_push_remembers_the_commits_no_ref_had(tmp_path: Path, updates: str) -> None:
    """The hook's decision hands an agent account's push the new commits its first stage
    walked (one update), or the push walks for them itself (two): either way it remembers
    what git lists as new, and nothing that another ref holds."""
    import subprocess

    from gate.git.pre_receive import AgentPush
    from gate.git.provenance import AgentCommits

    bare, tips, walked = _pushed_history(tmp_path, 2)
    base, new, other = tips["refs/heads/base"], tips["refs/heads/new"], tips["refs/heads/other"]
    side = walked[len(walked) // 2]
    subprocess.run(["git", "update-ref", "refs/heads/side", side], cwd=bare, check=True)
    git = Git(str(bare), dict(PATH_ENV))
    pushed = [RefUpdate(base, new, "refs/heads/main")]
    if updates == "two":
        pushed.append(RefUpdate("0" * 40, other, "refs/heads/feature"))
    expected: list[str] = []
    for update in pushed:
        seen = [u.new for u in pushed[: pushed.index(update)]]
        expected += git.commit_ids([update.new], seen, ["--not", "--all"])
    assert side not in expected and expected

    env = {**PATH_ENV, "GIT_DIR": str(bare), "REMOTE_USER": "agent-x"}
    stdin = "".join(f"{u.old} {u.new} {u.ref}\n" for u in pushed).encode()
    agent = AgentPush(git, pushed, "agent-x", str(bare))
    decide(stdin, env, str(bare), artifact=load_artifact(str(bare)), agent=agent)
    assert (agent.new_commits is not None) == (updates == "one")
    assert AgentCommits.open(str(bare)) is None, "nothing is remembered before it is accepted"
    assert agent.remember() == len(expected)
    memory = AgentCommits.open(str(bare))
    assert memory is not None
    assert all(memory.get(oid) is not None for oid in expected)
    assert memory.get(side) is None
