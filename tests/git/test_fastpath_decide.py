"""The hook's no-import fast path (gate.git.fastpath) never lets through what the full path holds.

- Required literals (gate.git.literals): every text a pattern matches satisfies the pattern's
  rules, for generated regexes and globs, the built-in catalog's own examples and the guards.
- Case folding: every character re.IGNORECASE equates with an ASCII one folds onto it.
- Protected-ref patterns: the fast path's matcher against the full path's regex.
- Decisions: on generated histories (merges, root commits, force pushes, odd and non-UTF-8
  names), with human, agent and mixed commits and pushers, whenever the fast path says
  "nothing to hold" the full classification holds nothing; and it does say so for human pushes
  and for agent pushes that touch no guarded path, or it would be no fast path at all.
- A changed or damaged policy, summary or catalog is never used stale.
"""

from __future__ import annotations

import fnmatch
import os
import re
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gate.git.catalog import load_catalog
from gate.git.classify import classify
from gate.git.config import HookConfig
from gate.git.detection import AgentDetector
from gate.git.fastpath import SUMMARY_NAME, decide, fold, load_summary, may_match, ref_matches
from gate.git.literals import commit_rules, path_rules
from gate.git.plumbing import Git
from gate.git.policy import compile_ref_patterns
from gate.git.refs import RefUpdate
from gate.git.settings import load_state
from tests.support.histories import POLICY, build

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
    expected = compile_ref_patterns([pattern]).fullmatch(ref) is not None
    assert ref_matches(pattern, ref) == expected, (pattern, ref)


# --------------------------------------------------------------------------------------------
# Decisions against the full path


def _install_settings(bare: Path, policy: bytes) -> Path:
    policy_file = bare / "policy.toml"
    policy_file.write_bytes(policy)
    config = HookConfig("http://127.0.0.1:9", str(bare / "token"), str(policy_file), "r")
    (bare / "gate.toml").write_text(config.to_toml())
    load_state(str(bare))  # writes the settings cache and the fast path's summary
    assert load_summary(str(bare)) is not None
    return policy_file


def _full_path_holds(bare: Path, updates: list[RefUpdate], pusher: str | None) -> bool:
    state = load_state(str(bare))
    env = dict(PATH_ENV)
    detector = AgentDetector(state.policy.agents, pusher, state.catalog())
    verdicts = classify(Git(str(bare), env), state.policy, updates, detector)
    return any(v.holds for v in verdicts)


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


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("agent_share", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("pusher", [None, "dana", "agent-x"])
@pytest.mark.parametrize("policy", [POLICY, DOCS_ONLY_POLICY], ids=["guards", "few-guards"])
def test_fast_path_never_passes_a_push_the_full_path_holds(
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
    ]
    env = dict(PATH_ENV)
    if pusher:
        env["GL_USERNAME"] = pusher
    for updates in pushes:
        fast = decide(_stdin(updates), env, str(bare))
        full = _full_path_holds(bare, updates, pusher)
        assert not (fast and full), f"fast path passed a held push: {updates}"
        if agent_share == 0.0 and pusher != "agent-x":
            assert fast, f"a human push took the full path: {updates}"
        if policy is DOCS_ONLY_POLICY and updates[0].new == new:
            assert fast, "agent commits that touch no guarded path should pass on the fast path"


def test_stale_or_damaged_summary_is_never_used(tmp_path: Path) -> None:
    bare, tips = build(tmp_path, 1, agent_share=1.0)
    policy_file = _install_settings(bare, DOCS_ONLY_POLICY)
    update = [RefUpdate(tips["refs/heads/base"], tips["refs/heads/new"], "refs/heads/main")]
    assert decide(_stdin(update), PATH_ENV, str(bare))
    # The admin guards everything: the summary is stale until the full path rewrites it.
    policy_file.write_bytes(DOCS_ONLY_POLICY.replace(b'"nothing-here/**"', b'"**"'))
    assert not decide(_stdin(update), PATH_ENV, str(bare))
    assert _full_path_holds(bare, update, None)
    assert not decide(_stdin(update), PATH_ENV, str(bare)), "'**' has no literal: full path"
    # A damaged summary is a miss, not an error.
    (bare / SUMMARY_NAME).write_bytes(b"\x00garbage")
    assert not decide(_stdin(update), PATH_ENV, str(bare))
    # Odd input on stdin, or a git failure, hands the push to the full path.
    assert not decide(b"not a ref line\n", PATH_ENV, str(bare))
    policy_file.write_bytes(DOCS_ONLY_POLICY)
    load_state(str(bare))
    missing = [RefUpdate(tips["refs/heads/base"], "f" * 40, "refs/heads/main")]
    assert not decide(_stdin(missing), PATH_ENV, str(bare))


def test_other_encodings_and_invalid_utf8(tmp_path: Path) -> None:
    """git re-encodes messages with an encoding header; bytes that are not UTF-8 at all send
    the push to the full path, which decodes field by field."""
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
        fast = decide(_stdin(update), PATH_ENV, str(bare))
        assert not fast, ref  # a: an agent commit to train/ (held); b: not UTF-8
        assert _full_path_holds(bare, update, None) == (ref == "refs/heads/a")


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
    fast = decide(stdin.encode(), PATH_ENV, str(tmp_path / "many.git"))
    assert fast == (guarded_at is None)
    old, new, ref = stdin.split()
    full = _full_path_holds(tmp_path / "many.git", [RefUpdate(old, new, ref)], None)
    assert full == (guarded_at is not None)


def test_an_early_stop_leaves_no_git_running(tmp_path: Path) -> None:
    """A commit that is not UTF-8 after 500 agent commits: the fast path stops midway (diff-tree
    already running) and hands over; no git process is left behind."""
    import subprocess

    # rev-list lists newest first: 500 agent commits, then the broken one.
    messages = [AGENT_MESSAGE] * 50 + [b"\xff\xfe broken"] + [AGENT_MESSAGE] * 500
    paths = [f"docs/p{n}.md" for n in range(len(messages))]
    stdin = _linear_history(tmp_path / "stop.git", messages, paths)
    _install_settings(tmp_path / "stop.git", POLICY)
    assert not decide(stdin.encode(), PATH_ENV, str(tmp_path / "stop.git"))
    mine = subprocess.run(
        ["ps", "-o", "pid=,args=", "--ppid", str(os.getpid())], capture_output=True, text=True
    ).stdout
    assert "git" not in mine, mine


def test_a_human_push_imports_nothing_beyond_python_start_up(tmp_path: Path) -> None:
    """The point of the fast path: no re, subprocess, typing, os... on a push that holds nothing
    (each costs the push about a millisecond or more)."""
    import subprocess
    import sys

    import gate

    stdin = _linear_history(tmp_path / "h.git", [b"fix"] * 3, ["train/a.py"] * 3)
    _install_settings(tmp_path / "h.git", POLICY)
    root = str(Path(gate.__file__).resolve().parent.parent)
    code = (
        f"import sys; sys.path.insert(0, {root!r}); before = set(sys.modules)\n"
        "from gate.git.pre_receive import run_pre_receive\n"
        "from gate.git.fastpath import environ_of_process\n"
        f"answer = run_pre_receive({stdin.encode()!r}, environ_of_process(), {str(tmp_path / 'h.git')!r})\n"
        "print(answer, sorted(set(sys.modules) - before))\n"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert (
        out.strip()
        == "(0, []) ['gate', 'gate.errors', 'gate.git', 'gate.git.fastpath', 'gate.git.pre_receive']"
    )
