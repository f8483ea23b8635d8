import pytest

import gate.git.catalog as catalog_module
from gate.errors import GateError
from gate.git.catalog import Catalog, load_catalog, parse_catalog
from gate.git.commits import Commit, parse_commit
from gate.git.config import HookConfig
from gate.git.detection import AgentDetector
from gate.git.policy import AgentRules, Policy
from gate.git.settings import HookState, pattern_literals
from tests.support.marks import corpus

HUMAN = b"Ada Lovelace <ada@example.org>"
CATALOG = load_catalog()


def raw_commit(
    author: bytes = HUMAN,
    committer: bytes | None = None,
    message: bytes = b"Change things\n",
    encoding: bytes | None = None,
) -> bytes:
    lines = [
        b"tree " + b"4b825dc642cb6eb9a060e54bf8d69288fbee4904",
        b"author " + author + b" 1700000000 +0000",
        b"committer " + (committer or author) + b" 1700000000 +0000",
    ]
    if encoding:
        lines.append(b"encoding " + encoding)
    return b"\n".join(lines) + b"\n\n" + message


def make_commit(**kwargs: bytes) -> Commit:
    return parse_commit("0" * 40, raw_commit(**kwargs))


def from_example(example: dict[str, str]) -> Commit:
    return make_commit(
        author=example.get("author", HUMAN.decode()).encode(),
        committer=example.get("committer", example.get("author", HUMAN.decode())).encode(),
        message=example.get("message", "Change things\n").encode(),
    )


def rules_of(entry) -> set[str]:
    kinds = ("emails", "logins", "names", "identities", "trailers", "message", "refs")
    return {rule for kind in kinds for rule in getattr(entry, kind)}


@pytest.mark.parametrize("entry", CATALOG.entries, ids=lambda e: e.name)
def test_every_entry_is_documented_and_has_examples(entry):
    assert entry.source and entry.notes
    assert entry.examples, f"{entry.name}: add an [[agent.example]] to agents.toml"


@pytest.mark.parametrize("entry", CATALOG.entries, ids=lambda e: e.name)
def test_each_example_matches_its_entry(entry):
    fired: set[str] = set()
    for example in entry.examples:
        signals = CATALOG.match(from_example(example), example.get("ref"))
        mine = [s for s in signals if s.agent == entry.name]
        assert any(s.kind != "ref" for s in mine), f"{entry.name}: no match for {example}"
        assert all(s.source == "catalog" for s in signals)
        fired.update(s.rule for s in mine)
    # Every rule is exercised by some example, so a rule cannot be added without a test case.
    assert fired == rules_of(entry)


def test_claude_trailer_signal_fields():
    commit = make_commit(
        message=b"Fix\n\nCo-Authored-By: Claude Sonnet 4.5 <noreply@anthropic.com>\n"
    )
    [signal] = CATALOG.match(commit)
    assert signal.kind == "trailer"
    assert signal.agent == "Claude Code"
    assert signal.rule == "noreply@anthropic.com"
    assert signal.evidence == "Co-Authored-By: Claude Sonnet 4.5 <noreply@anthropic.com>"


def test_bot_author_and_committer_each_signal():
    bot = b"dependabot[bot] <49699333+dependabot[bot]@users.noreply.github.com>"
    signals = CATALOG.match(make_commit(author=bot, committer=bot), "refs/heads/dependabot/npm/x")
    assert [(s.kind, s.agent, s.evidence) for s in signals] == [
        ("author", "dependabot", "49699333+dependabot[bot]@users.noreply.github.com"),
        ("committer", "dependabot", "49699333+dependabot[bot]@users.noreply.github.com"),
        ("ref", "dependabot", "refs/heads/dependabot/npm/x"),
    ]


def test_message_signal_evidence_is_the_matched_line():
    commit = make_commit(
        message="Fix\n\n🤖 Generated with [Claude Code](https://claude.com/claude-code)\n".encode()
    )
    [signal] = CATALOG.match(commit)
    assert signal.kind == "message"
    assert signal.evidence == "🤖 Generated with [Claude Code](https://claude.com/claude-code)"


def test_ref_alone_is_reported_as_weak_evidence():
    signals = CATALOG.match(make_commit(), "refs/heads/copilot/fix-12")
    assert [(s.kind, s.agent) for s in signals] == [("ref", "GitHub Copilot coding agent")]
    assert CATALOG.match(make_commit(), "refs/heads/claudette") == []


LOOK_ALIKES = [
    (b"Claude Monet <claude@monet.fr>", b"Paint water lilies\n"),
    (b"Devin Smith <devin@corp.com>", b"Fix the build\n"),
    (b"Jules Verne <jules@nautilus.fr>", b"Dive deeper\n"),
    (b"Cursor Jones <cursor@example.com>", b"Move the cursor\n"),
    (b"Aider Smith <aider@example.com>", b"Aid\n"),
    (b"Amp Ere <amp@example.com>", b"Measure current\n"),
    (b"Copilot Fan <copilot@example.com>", b"Fly\n"),
    # A person who owns the login "copilot" on a GitHub Enterprise Server.
    (b"copilot <12+copilot@users.noreply.ghe.example.com>", b"Fly\n"),
    (b"Mallory <evil+dependabot[bot]@users.noreply.github.com>", b"Bump\n"),
    (
        b"Ada <ada@example.org>",
        b"Fix\n\nCo-authored-by: Claude Shannon <claude@bell-labs.com>\n",
    ),
    (b"Ada <ada@example.org>", b"Fix\n\nCo-authored-by: Devin Smith <devin@corp.com>\n"),
    (b"Ada <ada@example.org>", b"Fix\n\nCo-authored-by: Jules Ferry <jules@ecole.fr>\n"),
    (b"Ada <ada@example.org>", b"Fix\n\nReviewed-by: Cursor Jones <cursor@example.com>\n"),
    (b"Ada <ada@example.org>", b"Fix\n\nMade-with: Cursor and coffee\n"),
    (
        b"Ada <ada@example.org>",
        b"Talk: I never generated with [Claude Code](https://claude.ai/code)\n",
    ),
    (b"Aider Jones (aide) <aj@example.com>", b"Aid\n"),
    # Assisted-by naming a person: with an address that is no agent's, or a bare name
    (b"Ada <ada@example.org>", b"Fix\n\nAssisted-by: Junio C Hamano <gitster@pobox.com>\n"),
    (b"Ada <ada@example.org>", b"Fix\n\nAssisted-by: Claude Opus <opus@example.com>\n"),
    (b"Ada <ada@example.org>", b"Fix\n\nAssisted-by: Claude Monet\n"),
    (b"Ada <ada@example.org>", b"Fix\n\nAssisted-by: Devin Smith\n"),
    (b"Ada <ada@example.org>", b"Fix\n\nAssisted-by: Kimi Raikkonen\n"),
    (b"Ada <ada@example.org>", b"Fix\n\nAssisted-by: https://example.com/help\n"),
    (b"Ada <ada@example.org>", b"Fix\n\nCo-authored-by: Charm Jones <charm@example.com\n"),
    (b"Ada <ada@example.org>", b"aider: teach the parser\n\nThe aider: prefix is ours.\n"),
    (b"Ada <ada@example.org>", b"Notes\n\n# Context:\nWe need this.\n"),
    (b"Ada <ada@example.org>", b"Regenerate\n\nGenerated with protoc 3.21\n"),
    (b"Ada <ada@example.org>", b"Crush it\n\nThe crush generated with care.\n"),
    # no GitHub App: brackets in a name or a non-noreply address, a plus in the login
    (b"robot[bot] <robot@example.com>", b"Beep\n"),
    (b"Ada <ada+x[bot]@users.noreply.github.com>", b"Beep\n"),
]


@pytest.mark.parametrize("author, message", LOOK_ALIKES)
def test_look_alike_humans_do_not_match(author, message):
    assert CATALOG.match(make_commit(author=author, message=message), "refs/heads/main") == []


def test_trailer_keys_are_case_insensitive():
    message = (
        b"Fix\n\n"
        b"CO-AUTHORED-BY: Claude <NoReply@Anthropic.com>\n"
        b"co-authored-by: aider (gpt-4o) <aider@aider.chat>\n"
        b"ASSISTED-BY: Copilot:gpt-5\n"
        b"claude-session: https://claude.ai/code/session_01abc\n"
    )
    agents = [s.agent for s in CATALOG.match(make_commit(message=message))]
    assert agents == ["Claude Code", "Aider", "Assisted-by trailer", "Claude Code"], agents


def test_non_utf8_author_names():
    undecodable = make_commit(author=b"J\xf6rg (aider) <jorg@example.org>", committer=HUMAN)
    [signal] = CATALOG.match(undecodable)
    assert (signal.kind, signal.agent, signal.evidence) == ("author", "Aider", "J\ufffdrg (aider)")
    latin1 = make_commit(
        author=b"J\xf6rg (aider) <jorg@example.org>", committer=HUMAN, encoding=b"ISO-8859-1"
    )
    assert [s.evidence for s in CATALOG.match(latin1)] == ["Jörg (aider)"]
    assert CATALOG.match(make_commit(author=b"\xff\xfe\x00 <\xff@example.org>")) == []


def test_load_catalog_is_cached():
    assert load_catalog() is CATALOG


MINIMAL = """
[[agent]]
name = "Tool"
source = "somewhere"
notes = "something"
"""


def test_identities_need_name_and_email():
    catalog = parse_catalog(MINIMAL + 'identities = ["Build Bot <ci@example.com>"]\n')
    assert isinstance(catalog, Catalog)
    bot = make_commit(author=b"Build Bot <CI@example.com>")
    assert [(s.kind, s.rule) for s in catalog.match(bot)] == [
        ("author", "Build Bot <ci@example.com>"),
        ("committer", "Build Bot <ci@example.com>"),
    ]
    assert catalog.match(make_commit(author=b"Ada <ci@example.com>")) == []


def test_globs_treat_brackets_literally():
    catalog = parse_catalog(MINIMAL + 'names = ["robot[bot]"]\n')
    assert catalog.match(make_commit(author=b"robot[bot] <r@example.org>"))
    assert catalog.match(make_commit(author=b"robotb <r@example.org>")) == []


@pytest.mark.parametrize(
    "text, problem",
    [
        ("agent = [", "not a valid TOML file"),
        ("[[agent]]\nsource = 'x'\nnotes = 'y'\nemails = ['a@b']\n", "'name' must be"),
        ("[[agent]]\nname = 'T'\nnotes = 'y'\nemails = ['a@b']\n", "agent 'T': 'source' must be"),
        (MINIMAL, "agent 'Tool': no rules"),
        (MINIMAL + "emails = 'a@b'\n", "'emails' must be a list"),
        (MINIMAL + "colour = ['red']\n", "unknown keys: colour"),
        (MINIMAL + "trailers = ['(']\n", "trailers pattern '(' is not a valid regex"),
        (MINIMAL + "message = ['(a)b']\n", "must use (?:...) instead of groups"),
        (MINIMAL + "logins = ['not a login']\n", "is not an account login"),
        (MINIMAL + "emails = ['a@b']\n" + MINIMAL + "emails = ['c@d']\n", "defined twice"),
        (MINIMAL + "emails = ['a@b']\n[[agent.example]]\nauthr = 'x'\n", "each example"),
        ("[agents]\n", "unknown top-level keys: agents"),
    ],
)
def test_malformed_catalog_raises_gate_error(text, problem):
    with pytest.raises(GateError) as excinfo:
        parse_catalog(text, source="agents.toml")
    message = str(excinfo.value)
    assert message.startswith("agents.toml")
    assert problem in message


def test_a_co_author_whose_closing_bracket_was_lost_is_still_matched():
    commit = make_commit(message=b"Tidy\n\nCo-Authored-By: Charm Crush <crush@charm.land\n")
    assert [(s.agent, s.rule) for s in CATALOG.match(commit)] == [("Crush", "crush@charm.land")]


def test_the_generic_bot_rule_only_speaks_where_no_entry_does():
    bot = b"blacksmith-sh[bot] <157653362+blacksmith-sh[bot]@users.noreply.github.com>"
    assert {s.agent for s in CATALOG.match(make_commit(author=bot))} == {"GitHub App bot"}
    renovate = b"renovate[bot] <29139614+renovate[bot]@users.noreply.github.com>"
    assert {s.agent for s in CATALOG.match(make_commit(author=renovate))} == {"renovate"}


def test_marks_in_a_paragraph_above_the_last_are_read():
    squash = (
        b"Fix the lexer (#12)\n\n* first\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n\n"
        b"* second\n\n---------\n\nCo-authored-by: Grace <grace@example.org>\n"
    )
    [signal] = CATALOG.match(make_commit(message=squash))
    assert (signal.kind, signal.agent) == ("trailer", "Claude Code")
    # a mark inside prose is no trailer paragraph: git would not read it, nor does gate
    prose = b"Fix\n\nStrip lines like\nCo-Authored-By: Claude <noreply@anthropic.com>\nfrom it.\n"
    assert CATALOG.match(make_commit(message=prose)) == []


# --------------------------------------------------------------------------------------------
# The hook's catalog: each pattern's literals first, compiled only for a text that has them


def _hook_literals(rules: AgentRules) -> dict[str, object]:
    """The literals the hook's compiled settings hold for the catalog and ``rules``."""
    config = HookConfig("http://127.0.0.1:9", "token", "policy.toml", "r")
    policy = Policy((), (), rules, "0" * 64)
    literals = pattern_literals(HookState(config, policy, list(CATALOG.entries)))
    assert literals is not None
    return literals


def _compiled(catalog: Catalog) -> int:
    sets = [getattr(catalog, f"_{kind}") for kind in ("names", "identities", "trailers")]
    sets += [catalog._message, catalog._refs, catalog._addresses._globs]
    return sum(regex is not None for patterns in sets for regex in patterns._each)


RULES = AgentRules(
    emails=("*@bots.example.com",),
    names=("*robot*",),
    trailers=("x-agent: *",),
    pushers=("agent-*",),
)
TEXTS = [
    *(
        (from_example(example), example.get("ref"))
        for entry in CATALOG.entries
        for example in entry.examples
    ),
    *((make_commit(author=a, message=m), "refs/heads/claude/x") for a, m in LOOK_ALIKES),
    *(
        (
            make_commit(
                author=marked.author.encode(),
                committer=marked.committer.encode(),
                message=marked.message.encode(),
            ),
            None,
        )
        for marked in corpus()
    ),
    (make_commit(author=b"R2 Robot <r@bots.example.com>", message=b"x\n\nX-Agent: yes\n"), None),
]


@pytest.mark.parametrize("switch_after", [10**9, 3])
def test_literals_change_no_answer(monkeypatch: pytest.MonkeyPatch, switch_after: int) -> None:
    """With the literals of its compiled settings (gate.git.settings.pattern_literals), the
    hook's catalog and detector answer exactly as the fully compiled ones, on every example,
    real mark and look-alike, upper-cased and with the Kelvin sign, before and after they
    switch to their combined regexes (LITERAL_TEXTS)."""
    monkeypatch.setattr(catalog_module, "LITERAL_TEXTS", switch_after)
    literals = _hook_literals(RULES)
    lazy = Catalog(CATALOG.entries, CATALOG.source, literals)  # type: ignore[arg-type]
    hook = AgentDetector(RULES, None, lazy, literals=literals)  # type: ignore[arg-type]
    full = AgentDetector(RULES, None, CATALOG)
    for commit, ref in TEXTS:
        for variant in (commit, _upper(commit), _kelvin(commit)):
            assert lazy.match(variant, ref) == CATALOG.match(variant, ref), variant
            assert hook.signals(variant, ref) == full.signals(variant, ref), variant


def test_a_human_commit_compiles_no_pattern() -> None:
    """The hook's catalog compiles nothing for a commit that has no pattern's literals (nor for
    a co-author's address: looked up), and for a message mark only the rules whose literals
    the message has."""
    literals = _hook_literals(AgentRules())
    lazy = Catalog(CATALOG.entries, CATALOG.source, literals)  # type: ignore[arg-type]
    assert lazy.match(make_commit(), "refs/heads/main") == []
    trailer = b"x\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n"
    assert {s.agent for s in lazy.match(make_commit(message=trailer))} == {"Claude Code"}
    assert _compiled(lazy) == 0
    message = "x\n\n\U0001f916 Generated with [Claude Code](https://claude.ai/code)\n".encode()
    assert {s.agent for s in lazy.match(make_commit(message=message))} == {"Claude Code"}
    assert 0 < _compiled(lazy) <= 3


def _upper(commit: Commit) -> Commit:
    return make_commit(
        author=str(commit.author).upper().encode(),
        committer=str(commit.committer).upper().encode(),
        message=commit.message.upper().encode(),
    )


def _kelvin(commit: Commit) -> Commit:
    return make_commit(
        author=str(commit.author).replace("k", "\u212a").encode(),
        committer=str(commit.committer).replace("k", "\u212a").encode(),
        message=commit.message.replace("k", "\u212a").encode(),
    )
