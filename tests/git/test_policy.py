"""gate.git.policy: parsing, validation with line numbers, ref and path pattern semantics."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.git.policy import (
    AgentRules,
    Guard,
    Policy,
    PolicyError,
    SourceMap,
    check_path_pattern,
    check_ref_pattern,
    load_policy,
    parse_policy,
    policy_summary,
)
from gate.git.refs import is_protected, ref_matches

EXAMPLE = """\
protected_refs = ["refs/heads/main", "refs/heads/release/*", "refs/tags/*"]

[[guard]]
name = "training"
paths = ["train/**", "configs/train/**", "*.ckpt"]   # gitignore-style patterns
approvals = 1

[[guard]]
name = "model"
paths = ["model/**"]
approvals = 2                                        # distinct human reviewers

[agents]
builtin = true                  # the built-in catalog of known coding agents and bots
pushers = ["agent-*"]           # authenticated pusher names
emails = ["*@bots.example.com"] # author or committer email globs
names = []                      # author or committer name globs
trailers = ["Assisted-by:*"]    # commit message trailer globs
"""

MINIMAL = 'protected_refs = ["refs/heads/main"]\n[[guard]]\nname = "g"\npaths = ["x/**"]\n'

FUZZ = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def parse(text: str) -> Policy:
    return parse_policy(textwrap.dedent(text).encode(), "policy.toml")


def problems(text: str | bytes) -> list[tuple[int | None, str]]:
    data = text if isinstance(text, bytes) else textwrap.dedent(text).encode()
    with pytest.raises(PolicyError) as caught:
        parse_policy(data, "policy.toml")
    return caught.value.problems


def only_problem(text: str | bytes) -> tuple[int | None, str]:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


# ---------------------------------------------------------------------------------------------
# The example file


def test_example_parses() -> None:
    policy = parse(EXAMPLE)
    assert policy.protected_refs == ("refs/heads/main", "refs/heads/release/*", "refs/tags/*")
    assert [(g.name, g.paths, g.approvals) for g in policy.guards] == [
        ("training", ("train/**", "configs/train/**", "*.ckpt"), 1),
        ("model", ("model/**",), 2),
    ]
    assert policy.agents == AgentRules(
        builtin=True,
        pushers=("agent-*",),
        emails=("*@bots.example.com",),
        names=(),
        trailers=("Assisted-by:*",),
    )
    assert policy.source == "policy.toml"
    assert len(policy.sha256) == 64


def test_defaults() -> None:
    policy = parse(MINIMAL)
    assert policy.guards[0].approvals == 1
    assert policy.agents == AgentRules()


def test_to_dict_is_json_ready() -> None:
    data = parse(EXAMPLE).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["guards"][1] == {"name": "model", "paths": ["model/**"], "approvals": 2}
    assert data["agents"]["trailers"] == ["Assisted-by:*"]
    assert data["protected_refs"][0] == "refs/heads/main"


def test_a_guard_may_need_security_key_approvals() -> None:
    """approval = "webauthn": kept on the guard, in its dict (only when set) and the summary."""
    policy = parse(MINIMAL.replace('paths = ["x/**"]', 'paths = ["x/**"]\napproval = "webauthn"'))
    assert policy.guards[0].approval == "webauthn"
    assert policy.guards[0].to_dict()["approval"] == "webauthn"
    assert "approval webauthn (a security-key assertion to approve)" in policy_summary(policy)
    plain = parse(MINIMAL.replace('paths = ["x/**"]', 'paths = ["x/**"]\napproval = "password"'))
    assert plain.guards[0].approval == "password" and "approval" not in plain.guards[0].to_dict()


def test_summary() -> None:
    summary = policy_summary(parse(EXAMPLE))
    assert "protected refs: refs/heads/main, refs/heads/release/*, refs/tags/*" in summary
    assert "  training: 1 approval; train/**, configs/train/**, *.ckpt" in summary
    assert "  model: 2 approvals; model/**" in summary
    assert "built-in catalog: on" in summary
    assert "emails: *@bots.example.com" in summary
    assert "names:" not in summary  # empty lists are left out


def test_load_policy(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(EXAMPLE, encoding="utf-8")
    assert load_policy(path).source == str(path)
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_policy(tmp_path / "missing.toml")


def test_byte_order_mark_is_accepted() -> None:
    assert parse_policy(b"\xef\xbb\xbf" + MINIMAL.encode()).guards[0].name == "g"


def test_dataclasses_can_be_built_directly() -> None:
    guard = Guard("g", ["x/**"], 2)  # type: ignore[arg-type]
    policy = Policy(["refs/heads/*"], [guard], AgentRules(emails=["*@x"]), "0" * 64)  # type: ignore[arg-type]
    assert guard.paths == ("x/**",)
    assert policy.is_protected("refs/heads/dev")
    assert policy.guards_for("x/y") == [guard]
    assert policy == Policy(("refs/heads/*",), (guard,), AgentRules(emails=("*@x",)), "0" * 64)


# ---------------------------------------------------------------------------------------------
# Errors and their line numbers


def test_error_message_format() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(b'protected_refs = ["main"]\n[[guard]]\nname = "g"\npaths = ["x"]\n', "p.toml")
    assert str(caught.value) == (
        "p.toml:1: protected ref 'main' must start with 'refs/' (did you mean 'refs/heads/main'?)"
    )


def test_toml_syntax_error_has_line_and_column() -> None:
    line, message = only_problem('protected_refs = ["refs/heads/main"]\n\n[[guard]\nname = "g"\n')
    assert line == 3
    assert message.startswith("TOML syntax error: ") and "(column " in message


def test_toml_syntax_error_at_end_of_file() -> None:
    line, message = only_problem('protected_refs = ["refs/heads/main"]\nx = [1,\n')
    assert line == 2
    assert message.endswith("(at end of file)")


def test_not_utf8() -> None:
    line, message = only_problem(b'protected_refs = ["refs/heads/main"]\n# caf\xe9\n')
    assert line == 2
    assert "not valid UTF-8 (byte 0xe9 at column 6)" in message


@pytest.mark.parametrize("data", [b"", b"   \n\t\n", b"\xef\xbb\xbf"])
def test_empty_file(data: bytes) -> None:
    assert only_problem(data) == (
        None,
        "the policy file is empty; it needs protected_refs and at least one [[guard]]",
    )


def test_comments_only_reports_both_required_keys() -> None:
    assert [line for line, _ in problems("# nothing here\n")] == [None, None]
    messages = " | ".join(message for _, message in problems("# nothing here\n"))
    assert "missing required key 'protected_refs'" in messages
    assert "no [[guard]] tables" in messages


HEAD = 'protected_refs = ["refs/heads/main"]\n'
GUARD = '[[guard]]\nname = "g"\npaths = ["x/**"]\n'

ERROR_CASES = [
    # (file text, line, part of the message)
    (GUARD, None, "missing required key 'protected_refs'"),
    (HEAD, None, "no [[guard]] tables"),
    (HEAD + "guard = []\n", 2, "no [[guard]] tables"),
    (HEAD + '[guard]\nname = "g"\npaths = ["x"]\n', 2, "write [[guard]], not [guard]"),
    (
        HEAD + '[[guards]]\nname = "g"\n' + GUARD,
        2,
        "unknown top-level key 'guards'; did you mean 'guard'?",
    ),
    ('protected_ref = ["refs/heads/main"]\n' + HEAD + GUARD, 1, "did you mean 'protected_refs'?"),
    ('protected_refs = "refs/heads/main"\n' + GUARD, 1, "must be a list of strings, not a string"),
    ("protected_refs = []\n" + GUARD, 1, "'protected_refs' is empty"),
    ('protected_refs = [\n  "refs/heads/main",\n  7,\n]\n' + GUARD, 3, "entries must be strings"),
    (
        'protected_refs = [\n  "refs/heads/main",\n  "heads/dev",\n]\n' + GUARD,
        3,
        "'refs/heads/dev'",
    ),
    ('protected_refs = ["refs/heads/main", "refs/heads/main"]\n' + GUARD, 1, "twice"),
    ('protected_refs = [\n"refs/heads/[ab]"]\n' + GUARD, 2, "only '*' and '**' are wildcards"),
    ('protected_refs = ["refs/tags/v**"]\n' + GUARD, 1, "'**' must be a whole component"),
    ('protected_refs = ["refs/heads//x"]\n' + GUARD, 1, "empty path component"),
    ('protected_refs = ["refs/heads/x.lock"]\n' + GUARD, 1, "'.lock'"),
    (HEAD + '[[guard]]\nname = "g"\npaths = ["x"]\napprovals = true\n', 5, "not true/false"),
    (HEAD + '[[guard]]\nname = "g"\npaths = ["x"]\napprovals = 0\n', 5, "at least 1, not 0"),
    (
        HEAD + '[[guard]]\nname = "g"\npaths = ["x"]\napprovals = "2"\n',
        5,
        "whole number, not a string",
    ),
    (
        HEAD + '[[guard]]\nname = "g"\npaths = ["x"]\napprovals = 1.5\n',
        5,
        "whole number, not a number",
    ),
    (HEAD + '[[guard]]\nname = "g"\npaths = ["x"]\napproval = 2\n', 5, "did you mean 'approvals'?"),
    (HEAD + '[[guard]]\npaths = ["x"]\n', 2, "guard #1 has no 'name'"),
    (HEAD + '[[guard]]\nname = " "\npaths = ["x"]\n', 3, "guard #1 has an empty name"),
    (HEAD + '[[guard]]\nname = 3\npaths = ["x"]\n', 3, "'name' must be a string, not an integer"),
    (
        HEAD + GUARD + '\n[[guard]]\nname = "g"\npaths = ["y"]\n',
        7,
        "duplicate guard name 'g' (first defined on line 3)",
    ),
    (HEAD + '[[guard]]\nname = "g"\n', 2, "guard 'g' has no 'paths'"),
    (HEAD + '[[guard]]\nname = "g"\npaths = []\n', 4, "guard 'g' has no paths"),
    (HEAD + '[[guard]]\nname = "g"\npaths = "x/**"\n', 4, 'write paths = ["x/**"]'),
    (
        HEAD + '[[guard]]\nname = "g"\npaths = [\n  "ok",\n  "bad\\\\",\n]\n',
        6,
        "nothing after it to escape",
    ),
    (HEAD + '[[guard]]\nname = "g"\npaths = ["ok", "[z-a]"]\n', 4, "invalid bracket expression"),
    (HEAD + '[[guard]]\nname = "g"\npaths = ["a[b"]\n', 4, "unclosed '['"),
    (HEAD + '[[guard]]\nname = "g"\npaths = ["#x"]\n', 4, "gitignore reads as a comment"),
    (HEAD + '[[guard]]\nname = "g"\npaths = ["x "]\n', 4, "ends with whitespace"),
    (HEAD + '[[guard]]\nname = "g"\npaths = ["!"]\n', 4, "matches nothing"),
    (HEAD + '[[guard]]\nname = "g"\npaths = ["/"]\n', 4, "matches nothing"),
    (HEAD + '[[guard]]\nname = "g"\npaths = [""]\n', 4, "is empty and matches nothing"),
    (HEAD + '[[guard]]\nname = "g"\npaths = ["[[:alpha:]]"]\n', 4, "not supported"),
    (HEAD + '[[guard]]\nname = "g"\npaths = ["!x", "!y"]\n', 4, "only '!' patterns"),
    (HEAD + '[[guard]]\nname = "g"\npaths = ["x", "x"]\n', 4, "'paths' lists 'x' twice"),
    (HEAD + 'agents = ["x"]\n' + GUARD, 2, "'agents' must be a table"),
    (
        HEAD + GUARD + "[agents]\nbuiltin = 1\n",
        6,
        "'builtin' must be true or false, not an integer",
    ),
    (HEAD + GUARD + '[agents]\nemail = ["*@x"]\n', 6, "did you mean 'emails'?"),
    (HEAD + GUARD + '[agents]\nemails = "*@x"\n', 6, "must be a list of strings"),
    (HEAD + GUARD + '[agents]\nnames = ["[bot"]\n', 6, "unclosed '['"),
    (HEAD + GUARD + '[agents]\npushers = [""]\n', 6, "is empty"),
    (HEAD + GUARD + '[agents]\ntrailers = ["Assisted-by"]\n', 6, "must look like 'Key: value'"),
    (HEAD + GUARD + '[agents]\ntrailers = ["Assisted by: x"]\n', 6, "invalid trailer key"),
    (
        HEAD + '[[guard]]\nname = "g"\npaths = ["x"]\napproval = "webauth"\n',
        5,
        "'approval' must be one of 'password', 'webauthn', not 'webauth'; did you mean 'webauthn'?",
    ),
]


@pytest.mark.parametrize(("text", "line", "fragment"), ERROR_CASES)
def test_error_is_reported_on_its_line(text: str, line: int | None, fragment: str) -> None:
    found = problems(text)
    assert any(fragment in message for _, message in found), found
    assert [at for at, message in found if fragment in message] == [line], found


def test_every_problem_is_reported_at_once() -> None:
    text = """\
        protected_refs = [
          "refs/heads/main",
          "main",
        ]
        colour = "blue"

        [[guard]]
        name = "training"
        paths = "train/**"
        approvals = true

        [[guard]]
        name = "training"
        paths = ["ok/**", "bad\\\\"]

        [agents]
        builtin = "yes"
        emailz = []
    """
    found = problems(text)
    assert [line for line, _ in found] == [3, 5, 9, 10, 13, 14, 17, 18]
    assert "did you mean 'emails'?" in found[-1][1]


def test_problems_come_in_file_order() -> None:
    found = problems(
        HEAD + '[[guard]]\nname = "g"\npaths = ["#"]\napprovals = 0\n[agents]\nbuiltin = 2\n'
    )
    lines = [line for line, _ in found]
    assert lines == sorted(lines) == [4, 5, 7]


def test_locates_keys_written_in_other_toml_forms() -> None:
    text = """\
        protected_refs = ["refs/heads/main"]
        agents.builtin = "no"
        guard = [
          { name = "a", paths = ["x"] },
          { name = "b", paths = [
              "y",
              "#z",
          ], approvals = -1 },
        ]
    """
    assert problems(text) == [
        (2, "'builtin' must be true or false, not a string"),
        (7, "guard 'b': path pattern '#z' starts with '#', which gitignore reads as a comment; "
            "write '\\#' for a literal '#'"),
        (8, "guard 'b': 'approvals' must be at least 1, not -1"),
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The source map (line locator)


def test_source_map_tables_keys_and_elements() -> None:
    text = textwrap.dedent(
        """\
        # comment [[guard]]
        protected_refs = [  # comment with "quotes" and ]
          'refs/heads/main',
          "refs/tags/*", # ]
        ]
        note = \"\"\"
        [[guard]]
        name = "fake"
        \"\"\"

        [[guard]]
        "name" = "a"
        paths = ["x", [1, 2], {k = "v"}, "y"]

        [guard.extra]
        deep = 1

        [[guard]]
        name = 'b'
        [ agents ]
        emails = [
        ]
        "quoted.key" = 1
        """
    )
    where = SourceMap(text)
    assert where.line(("protected_refs",)) == 2
    assert where.line(("protected_refs", 0)) == 3
    assert where.line(("protected_refs", 1)) == 4
    assert where.line(("note",)) == 6
    assert where.line(("guard", 0)) == 11
    assert where.line(("guard", 0, "name")) == 12
    assert where.line(("guard", 0, "paths", 3)) == 13
    assert where.line(("guard", 0, "paths", 2, "k")) == 13
    assert where.line(("guard", 0, "extra")) == 15
    assert where.line(("guard", 0, "extra", "deep")) == 16
    assert where.line(("guard", 1)) == 18
    assert where.line(("guard", 1, "name")) == 19
    assert where.line(("guard", 1, "paths")) == 18  # missing: falls back to the table
    assert where.line(("agents", "emails")) == 21
    assert where.line(("agents", "quoted.key")) == 23
    assert where.line(("nowhere",)) is None


def test_source_map_crlf_and_multiline_literal_strings() -> None:
    text = 'a = \'\'\'\r\nx = 1\r\n\'\'\'\r\nb = """q""""\r\n[t]\r\nc = 2\r\n'
    where = SourceMap(text)
    assert (where.line(("a",)), where.line(("b",)), where.line(("t", "c"))) == (1, 4, 6)
    assert where.line(("x",)) is None


# ---------------------------------------------------------------------------------------------
# Ref patterns


@pytest.mark.parametrize(
    ("pattern", "ref", "protected"),
    [
        ("refs/heads/main", "refs/heads/main", True),
        ("refs/heads/main", "refs/heads/main2", False),
        ("refs/heads/main", "refs/heads/mai", False),
        ("refs/heads/main", "refs/heads/main/x", False),
        ("refs/heads/release/*", "refs/heads/release/1.0", True),
        ("refs/heads/release/*", "refs/heads/release/a/b", False),
        ("refs/heads/release/*", "refs/heads/release", False),
        ("refs/heads/release-*", "refs/heads/release-2", True),
        ("refs/heads/*-stable", "refs/heads/v1-stable", True),
        ("refs/tags/*", "refs/tags/v1", True),
        ("refs/tags/*", "refs/tags/a/b", False),
        ("refs/tags/**", "refs/tags/a/b/c", True),
        ("refs/tags/**", "refs/tags/v1", True),
        ("refs/tags/**", "refs/tags", False),
        ("refs/heads/**/main", "refs/heads/main", True),
        ("refs/heads/**/main", "refs/heads/a/b/main", True),
        ("refs/heads/**/main", "refs/heads/a/b/main2", False),
        ("refs/heads/v1.0", "refs/heads/v1x0", False),  # '.' is literal, not a regex dot
        ("refs/heads/a+b", "refs/heads/a+b", True),
        ("refs/heads/MAIN", "refs/heads/main", False),  # refs are case-sensitive
    ],
)
def test_ref_pattern_semantics(pattern: str, ref: str, protected: bool) -> None:
    assert check_ref_pattern(pattern) is None
    assert ref_matches(pattern, ref) is protected
    policy = Policy((pattern,), (), AgentRules(), "")
    assert policy.is_protected(ref) is protected


def test_example_ref_checks() -> None:
    policy = parse(EXAMPLE)
    assert policy.is_protected("refs/heads/main")
    assert policy.is_protected("refs/heads/release/1.0")
    assert not policy.is_protected("refs/heads/release/a/b")
    assert policy.is_protected("refs/tags/v1.2")
    assert not policy.is_protected("refs/heads/feature")
    assert not policy.is_protected("refs/heads/main\n")


def test_no_protected_refs_matches_nothing() -> None:
    assert not is_protected("refs/heads/main", [])


@given(st.text(alphabet="abc/.-_+()$^", min_size=1, max_size=20))
@FUZZ
def test_literal_ref_pattern_matches_only_itself(name: str) -> None:
    assert ref_matches(f"refs/{name}", f"refs/{name}")
    assert not ref_matches(f"refs/{name}", f"refs/{name}x")


@given(st.lists(st.sampled_from(["a", "b", "*", "**", "c*", "*d"]), min_size=1, max_size=4))
@FUZZ
def test_ref_glob_against_reference(parts: list[str]) -> None:
    pattern = "refs/" + "/".join(parts)
    for ref in ["refs/a", "refs/a/b", "refs/a/b/c", "refs/cd", "refs/c/d", "refs/x/a/b"]:
        assert ref_matches(pattern, ref) == _ref_matches(parts, ref.split("/")[1:]), ref


def _ref_matches(parts: list[str], components: list[str]) -> bool:
    """Reference semantics, component by component: '**' is zero or more whole components
    (at least one when it ends the pattern), '*' any text within one component."""
    if not parts:
        return not components
    head, rest = parts[0], parts[1:]
    if head == "**":
        least = 1 if not rest else 0
        return any(_ref_matches(rest, components[n:]) for n in range(least, len(components) + 1))
    if not components:
        return False
    chunk = re.escape(head).replace(r"\*", "[^/]*")
    return re.fullmatch(chunk, components[0]) is not None and _ref_matches(rest, components[1:])


# ---------------------------------------------------------------------------------------------
# Guard path patterns (gitignore semantics)


@pytest.mark.parametrize(
    ("patterns", "path", "matched"),
    [
        (["train/**"], "train/a.py", True),
        (["train/**"], "train/deep/er/a.py", True),
        (["train/**"], "src/train/a.py", False),
        (["train/**"], "training/a.py", False),
        (["*.ckpt"], "model.ckpt", True),
        (["*.ckpt"], "runs/7/model.ckpt", True),
        (["*.ckpt"], "model.ckpt.txt", False),
        (["/top.txt"], "top.txt", True),
        (["/top.txt"], "sub/top.txt", False),
        (["data/"], "data/x.csv", True),
        (["data/"], "src/data/x.csv", True),
        (["data/"], "data", False),  # a directory pattern never matches a file named 'data'
        (["data"], "data", True),
        (["data"], "src/data/x.csv", True),
        (["a/*/c"], "a/b/c", True),
        (["a/*/c"], "a/b/b/c", False),
        (["a/**/c"], "a/c", True),
        (["a/**/c"], "a/b/b/c", True),
        (["train/**", "!train/README.md"], "train/README.md", False),
        (["train/**", "!train/README.md"], "train/run.py", True),
        (["train/**", "!*.md"], "train/notes/x.md", False),
        (["!*.md", "train/**"], "train/x.md", True),  # the last matching pattern wins
        (["\\!important"], "!important", True),
        (["\\#notes"], "#notes", True),
        (["file?.txt"], "file1.txt", True),
        (["file[0-9].txt"], "file7.txt", True),
        (["file[!0-9].txt"], "file7.txt", False),
        (["my file.txt"], "docs/my file.txt", True),
        (["trailing\\ "], "trailing ", True),
        (["tab\there"], "tab\there", True),
        (["données/**"], "données/été.csv", True),
        (["模型/*.bin"], "模型/权重.bin", True),
        (["*.ckpt"], "bad\udcffname.ckpt", True),
        (["bad\udcff/**"], "bad\udcff/x", True),
        (["back\\\\slash"], "back\\slash", True),
    ],
)
def test_gitignore_semantics(patterns: list[str], path: str, matched: bool) -> None:
    for pattern in patterns:
        assert check_path_pattern(pattern) is None, pattern
    assert Guard("g", tuple(patterns)).matches(path) is matched


def test_surrogate_paths_do_not_crash() -> None:
    policy = parse(EXAMPLE)
    weird = b"train/\xff\xfe.py".decode("utf-8", "surrogateescape")
    assert [g.name for g in policy.guards_for(weird)] == ["training"]
    assert policy.guards_for("\udc80") == []


def test_guards_for_paths() -> None:
    policy = parse(EXAMPLE)
    paths = ["train/b.py", "README.md", "train/a.py", "x/m.ckpt", "model/m.py", "train/a.py"]
    assert policy.guards_for_paths(paths) == {
        "training": ["train/a.py", "train/b.py", "x/m.ckpt"],
        "model": ["model/m.py"],
    }
    assert policy.guards_for_paths(iter(["README.md"])) == {}
    assert [g.name for g in policy.guards_for("model/x.ckpt")] == ["training", "model"]


# ---------------------------------------------------------------------------------------------
# Nothing but PolicyError escapes, whatever the input


def assert_only_policy_error(data: bytes) -> None:
    try:
        policy = parse_policy(data, "fuzz.toml")
    except PolicyError as exc:
        assert exc.problems
        line_count = data.count(b"\n") + 1
        for line, message in exc.problems:
            assert line is None or 1 <= line <= line_count, (line, message)
            assert message and "\n" not in message
        return
    policy.is_protected("refs/heads/main")
    policy.guards_for_paths(["a", "b/c.ckpt", "\udcff"])
    json.dumps(policy.to_dict())
    policy_summary(policy)


@given(st.binary(max_size=300))
@FUZZ
def test_fuzz_random_bytes(data: bytes) -> None:
    assert_only_policy_error(data)


@given(
    st.text(
        alphabet=st.sampled_from(list("[]{}=\"'#.,\n \t\\*!/:-_ab1refsguardpathsname")),
        max_size=200,
    )
)
@FUZZ
def test_fuzz_toml_like_text(text: str) -> None:
    assert_only_policy_error(text.encode("utf-8", "surrogatepass"))


@given(st.data())
@FUZZ
def test_fuzz_mutated_example(data: st.DataObject) -> None:
    text = EXAMPLE
    for _ in range(data.draw(st.integers(1, 4))):
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, min(len(text), start + 8)))
        text = text[:start] + data.draw(st.text(max_size=4)) + text[end:]
    assert_only_policy_error(text.encode("utf-8", "surrogatepass"))


KEYS = st.sampled_from(
    [
        *("protected_refs", "guard", "agents", "name", "paths", "approvals", "builtin"),
        *("pushers", "emails", "names", "trailers", "guards", "x"),
    ]
)
SCALARS = (
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
    | st.sampled_from(["refs/heads/main", "refs/tags/**", "x/**", "!x", "#", "a\\", "[", "k:v"])
    | st.integers(-3, 3)
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=8,
)
DOCS = st.dictionaries(
    KEYS,
    VALUES | st.lists(st.dictionaries(KEYS, VALUES, max_size=4), min_size=1, max_size=3),
    max_size=5,
)


def to_toml(doc: dict) -> str:
    """A small TOML writer: scalars first, then [tables] and [[arrays of tables]]."""
    lines, tables = [], []
    for key, value in doc.items():
        if isinstance(value, dict):
            tables += [f"[{key}]", *to_toml(value).splitlines()]
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                tables += [f"[[{key}]]", *to_toml(item).splitlines()]
        else:
            lines.append(f"{key} = {inline(value)}")
    return "\n".join(lines + tables) + "\n"


def inline(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[\n  " + ",\n  ".join(inline(v) for v in value) + "\n]" if value else "[]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {inline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value)


@given(DOCS)
@FUZZ
def test_fuzz_generated_documents(doc: dict) -> None:
    text = to_toml(doc)
    assert_only_policy_error(text.encode())


@given(DOCS)
@FUZZ
def test_source_map_points_at_the_key(doc: dict) -> None:
    text = to_toml(doc)
    lines = text.splitlines()
    where = SourceMap(text)
    for path, line in where.lines.items():
        if isinstance(path[-1], str):
            assert path[-1] in lines[line - 1], (path, line, text)


def test_guard_path_fallback_for_inline_keys() -> None:
    doc = {"guard": [{"name": "g", "paths": {"a": 1}}]}
    assert_only_policy_error(to_toml(doc).encode())


# ---------------------------------------------------------------------------------------------
# Our gitignore checks agree with pathspec


@given(st.text(alphabet="ab/*?[]!^-\\ #.:\t", max_size=10))
@settings(max_examples=2000, deadline=None, database=None)
def test_accepted_path_patterns_compile_in_pathspec(pattern: str) -> None:
    from pathspec import GitIgnoreSpec
    from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

    if check_path_pattern(pattern) is not None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        _regex, include = GitIgnoreSpecPattern.pattern_to_regex(pattern)
        assert include is not None, "pathspec (like git) would ignore this pattern"
        GitIgnoreSpec.from_lines([pattern]).match_file("a/b.c")


@pytest.mark.parametrize(
    "pattern", ["!", "\\", "a\\", "[z-a]", "**\\", " \\", "!\\", "a\\/b", "x[/]y"]
)
def test_patterns_pathspec_rejects_or_ignores_are_reported(pattern: str) -> None:
    assert check_path_pattern(pattern) is not None


# ---------------------------------------------------------------------------------------------
# Import cost: ref checks and guard matching must not import pathspec


def test_ref_checks_and_matching_do_not_import_pathspec(tmp_path: Path) -> None:
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(EXAMPLE, encoding="utf-8")
    code = (
        "import sys, gate.git.policy\n"
        f"p = gate.git.policy.load_policy({str(policy_file)!r})\n"
        "assert p.is_protected('refs/heads/main')\n"
        "gate.git.policy.policy_summary(p); p.to_dict()\n"
        "print('pathspec' in sys.modules)\n"
        "assert p.guards_for('train/x.py')\n"
        "print('pathspec' in sys.modules)\n"
        "p.guards[0].rules\n"  # the fast path's literals come from pathspec's translation
        "print('pathspec' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[2],
    )
    assert result.stdout.split() == ["False", "False", "True"]
