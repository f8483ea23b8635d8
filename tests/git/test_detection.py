import pytest

from gate.git.catalog import load_catalog, parse_catalog
from gate.git.commits import Commit, parse_commit
from gate.git.detection import PUSHER_VARIABLES, AgentDetector, find_pusher, is_agent
from gate.git.policy import AgentRules
from gate.git.signals import Signal


def make_commit(
    author: bytes = b"Ada Lovelace <ada@example.org>",
    committer: bytes | None = None,
    message: bytes = b"Change things\n",
) -> Commit:
    raw = (
        b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
        b"author " + author + b" 1700000000 +0000\n"
        b"committer " + (committer or author) + b" 1700000000 +0000\n"
        b"\n" + message
    )
    return parse_commit("1" * 40, raw)


def policy_only(**globs: tuple[str, ...]) -> AgentRules:
    return AgentRules(builtin=False, **globs)


# --- find_pusher -------------------------------------------------------------------------


def test_find_pusher_takes_the_first_set_variable_in_order():
    environ = {name: f"user-{i}" for i, name in enumerate(PUSHER_VARIABLES)}
    for i, name in enumerate(PUSHER_VARIABLES):
        assert find_pusher(environ) == f"user-{i}"
        environ[name] = ""  # empty counts as unset: the next one wins
    assert find_pusher(environ) is None


def test_find_pusher_order_is_fixed():
    assert PUSHER_VARIABLES == (
        "GL_USERNAME",
        "GITHUB_USER_LOGIN",
        "GITEA_PUSHER_NAME",
        "GL_USER",
        "REMOTE_USER",
    )
    assert find_pusher({"REMOTE_USER": "web", "GL_USER": "gitolite"}) == "gitolite"
    assert find_pusher({"GITEA_PUSHER_NAME": "  ", "REMOTE_USER": "web"}) == "web"
    assert find_pusher({}) is None


# --- policy globs, one category at a time --------------------------------------------------


def test_pusher_globs():
    detector = AgentDetector(policy_only(pushers=("*-bot", "agent-?")), pusher="Deploy-Bot")
    expected = [Signal("pusher", "policy", "agents.pushers", "*-bot", "Deploy-Bot")]
    assert detector.pusher_signals() == expected
    assert detector.signals(make_commit()) == expected
    assert AgentDetector(policy_only(pushers=("*-bot",)), pusher="alice").pusher_signals() == []
    assert AgentDetector(policy_only(pushers=("*",)), pusher=None).pusher_signals() == []


def test_pusher_signals_are_computed_once_and_not_shared():
    detector = AgentDetector(policy_only(pushers=("ci",)), pusher="ci")
    first = detector.pusher_signals()
    first.clear()
    assert len(detector.pusher_signals()) == 1


def test_email_globs_are_case_insensitive_on_author_and_committer():
    detector = AgentDetector(policy_only(emails=("*@agents.example.com",)), pusher="alice")
    commit = make_commit(committer=b"Runner <Runner@AGENTS.example.com>")
    assert detector.signals(commit) == [
        Signal(
            "committer",
            "policy",
            "agents.emails",
            "*@agents.example.com",
            "Runner@AGENTS.example.com",
        )
    ]
    assert detector.signals(make_commit(author=b"Eve <eve@agents.example.com.evil>")) == []


def test_name_globs():
    detector = AgentDetector(policy_only(names=("build agent *", "robot")), pusher=None)
    commit = make_commit(author=b"Build Agent 7 <b7@example.org>")
    kinds = [(s.kind, s.rule, s.evidence) for s in detector.signals(commit)]
    assert kinds == [
        ("author", "build agent *", "Build Agent 7"),
        ("committer", "build agent *", "Build Agent 7"),
    ]
    assert detector.signals(make_commit(author=b"Robotnik <r@example.org>")) == []


def test_name_globs_on_non_utf8_names():
    detector = AgentDetector(policy_only(names=("J?rg*",)), pusher=None)
    commit = make_commit(author=b"J\xf6rg Bot <j@example.org>", committer=b"Ada <ada@example.org>")
    assert [s.evidence for s in detector.signals(commit)] == ["J\ufffdrg Bot"]


def test_trailer_globs_match_key_and_value_with_keys_case_insensitive():
    detector = AgentDetector(policy_only(trailers=("Assisted-by:*", "X-Agent: ci-*")), pusher=None)
    message = b"Fix\n\nassisted-by: Claude:opus\nX-AGENT: ci-runner\nSigned-off-by: Ada <a@b.c>\n"
    signals = detector.signals(make_commit(message=message))
    assert [(s.kind, s.rule, s.evidence) for s in signals] == [
        ("trailer", "Assisted-by:*", "assisted-by: Claude:opus"),
        ("trailer", "X-Agent: ci-*", "X-AGENT: ci-runner"),
    ]
    not_a_trailer = make_commit(message=b"Assisted-by: nobody, just a subject line\n")
    assert detector.signals(not_a_trailer) == []


def test_fnmatch_semantics_for_policy_globs():
    detector = AgentDetector(policy_only(names=("dependabot[[]bot]", "[!a]gent")), pusher=None)
    assert detector.signals(make_commit(author=b"dependabot[bot] <d@example.org>"))
    assert detector.signals(make_commit(author=b"xgent <x@example.org>"))
    assert detector.signals(make_commit(author=b"agent <a@example.org>")) == []


# --- the built-in catalog --------------------------------------------------------------------


CLAUDE_TRAILER = b"Fix\n\nCo-Authored-By: Claude Opus 4.5 <noreply@anthropic.com>\n"


def test_builtin_catalog_is_loaded_by_default():
    detector = AgentDetector(AgentRules(), pusher="alice")
    assert detector.catalog is load_catalog()
    [signal] = detector.signals(make_commit(message=CLAUDE_TRAILER))
    assert (signal.source, signal.agent, signal.kind) == ("catalog", "Claude Code", "trailer")


def test_builtin_false_ignores_the_catalog():
    detector = AgentDetector(policy_only(), pusher="alice", catalog=load_catalog())
    assert detector.catalog is None
    assert detector.signals(make_commit(message=CLAUDE_TRAILER)) == []


def test_a_given_catalog_is_used():
    catalog = parse_catalog(
        '[[agent]]\nname = "Ours"\nsource = "here"\nnotes = "n"\nemails = ["*@bots.example"]\n'
    )
    detector = AgentDetector(AgentRules(emails=("x@example.org",)), pusher=None, catalog=catalog)
    commit = make_commit(author=b"X <x@example.org>", committer=b"B <b@bots.example>")
    assert [(s.source, s.kind) for s in detector.signals(commit)] == [
        ("policy", "author"),
        ("catalog", "committer"),
    ]
    assert detector.signals(make_commit(message=CLAUDE_TRAILER)) == []


def test_signals_order_pusher_policy_then_catalog():
    rules = AgentRules(pushers=("ci",), emails=("*@anthropic.com",))
    commit = make_commit(
        author=b"Claude <noreply@anthropic.com>", committer=b"Ada <ada@example.org>"
    )
    signals = AgentDetector(rules, pusher="ci").signals(commit, "refs/heads/claude/x")
    assert [(s.kind, s.source) for s in signals] == [
        ("pusher", "policy"),
        ("author", "policy"),
        ("author", "catalog"),
        ("ref", "catalog"),
    ]
    assert is_agent(signals)


# --- is_agent --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kinds, expected",
    [
        ((), False),
        (("ref",), False),
        (("ref", "ref"), False),
        (("ref", "trailer"), True),
        (("pusher",), True),
        (("message",), True),
    ],
)
def test_is_agent_ignores_refs_alone(kinds, expected):
    signals = [Signal(kind, "catalog", "X", "rule", "evidence") for kind in kinds]
    assert is_agent(signals) is expected


def test_branch_name_alone_does_not_make_an_agent_commit():
    detector = AgentDetector(AgentRules(), pusher="alice")
    signals = detector.signals(make_commit(), "refs/heads/copilot/fix-1")
    assert [s.kind for s in signals] == ["ref"]
    assert not is_agent(signals)
