"""The built-in catalog of coding agents and the marks they leave on commits.

The data lives in ``gate/data/agents.toml`` (package data); this module validates it, compiles
every pattern once and matches commits against it. It runs on every commit of every push, so
each field of a commit is first tested against one combined regex per rule kind; only on a hit
are the individual rules tried, to say which ones fired. Identity lookups are memoised because
the same few authors recur across a push. Stdlib only: the hook's import time matters, and so
does compile time (Python compiles regexes at run time, on every push): the individual rules
are compiled only when their combined regex hits, and addresses (most of the catalog) are
looked up in dictionaries instead of one large regex, which is compiled only for non-ASCII text.
In the hook, whose compiled settings hold each pattern's required literals (gate.git.literals),
nothing is translated or compiled up front: a pattern is translated into a regex and compiled
only for a text that has its literals, and the combined regexes only once a push has many texts
to match (``LITERAL_TEXTS``). So a push that reaches the exact stage imports ``re`` (and
``fnmatch``) only when some pattern may match.
"""

from __future__ import annotations

from gate.errors import GateError
from gate.git.prefilter import fold, may_match
from gate.git.signals import Signal
from gate.git.values import Frozen, _set

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any, Generic, Literal, TypeVar

    from gate.git.commits import Commit
    from gate.git.literals import Rule

    P = TypeVar("P")

    class _Generic(Generic[P]):
        pass

else:  # no typing at run time: PatternSet[...] appears only in annotations

    class _Generic:
        def __class_getitem__(cls, item):
            return cls

    P = None

RULE_KINDS = ("emails", "logins", "names", "identities", "trailers", "message", "refs")
_ENTRY_KEYS = {"name", "source", "notes", "example", "fallback", *RULE_KINDS}
_EXAMPLE_KEYS = {"author", "committer", "message", "ref"}
_LOGIN = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\[bot\])?"
ANY_APP = "*[bot]"  # the logins rule that matches every GitHub App's bot account
_APP_LOGIN = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\[bot\]"
# Trailers that name someone who helped; their addresses are matched like the author's.
_PERSON_TRAILERS = ("co-authored-by", "assisted-by")
# Every "<email>" of a Co-authored-by trailer: git leaves the value unparsed and readers differ
# on which address of "Name <a> <b>" counts (git's idents take the first), so each is checked.
_ADDRESS = r"<(?P<email>[^<>]*)>"
_CACHE_LIMIT = 4096
# With literals, a PatternSet tries them for this many texts, then compiles its combined regex
# (a push with many commits to check pays the compilation once, and matches at C speed; with
# 256, classifying 1,000 held agent commits took ~4% more CPU than compiling up front, with 32
# the same).
LITERAL_TEXTS = 32


def co_authors(value: str) -> list[tuple[str, str]]:
    """(name, email) for each address of a Co-authored-by value; a bare address counts too."""
    name = value.split("<", 1)[0].strip()
    emails = list(dict.fromkeys(email.strip() for email in _addresses(value)))
    unclosed = value.rpartition("<")[2]
    if "<" in value and ">" not in unclosed and unclosed.strip():
        emails.append(unclosed.strip())  # "Name <address" with the ">" lost, as tools write it
    if not emails and "<" not in value and ">" not in value:
        emails = [value.strip()]
    return [(name, email) for email in emails]


def _addresses(value: str) -> list[str]:
    """What each ``<...>`` holds (no ``<`` or ``>`` inside), left to right, as
    ``re.finditer(_ADDRESS, value)`` finds them."""
    found = []
    start = value.find("<")
    while start >= 0:
        lt, gt = value.find("<", start + 1), value.find(">", start + 1)
        if gt < 0:
            break
        if 0 <= lt < gt:
            start = lt  # "<a <b>": the match starts at the later "<"
            continue
        found.append(value[start + 1 : gt])
        start = value.find("<", gt + 1)
    return found


def catalog_glob(pattern: str) -> str:
    """Regex source for a catalog glob: ``*`` and ``?`` are wildcards, ``[`` is literal.

    Brackets are literal because bot names contain ``[bot]``.
    """
    import fnmatch

    return fnmatch.translate(pattern.replace("[", "[[]"))


def policy_glob(pattern: str) -> str:
    """Regex source for a policy glob (``[agents]``): fnmatch's own translation."""
    import fnmatch

    return fnmatch.translate(pattern)


def login_regex(login: str) -> str:
    """Regex source for a forge's noreply address of an account login.

    GitHub writes ``<id>+<login>@users.noreply.github.com`` (older accounts: without ``<id>+``);
    GitHub Enterprise Server uses ``users.noreply.<its host>``. The login ``*[bot]`` stands
    for every GitHub App's bot account: only apps have logins with brackets.
    """
    import re

    body = _APP_LOGIN if login == ANY_APP else re.escape(login)
    return rf"(?:[0-9]+\+)?{body}@users\.noreply\.[A-Za-z0-9.-]+"


def _address_regex(rule: str) -> str:
    """``email:GLOB`` or ``login:LOGIN`` (the catalog's address rules) as a regex source."""
    kind, _, pattern = rule.partition(":")
    return catalog_glob(pattern) if kind == "email" else login_regex(pattern)


def _regex(source: str) -> str:
    return source


# How a PatternSet turns its patterns into regex sources, by kind. A pattern's literals are
# found under "KIND:PATTERN" (pattern_key): a key needs no translation, so no ``re``.
TRANSLATIONS: dict[str, Callable[[str], str]] = {
    "regex": _regex,
    "glob": catalog_glob,
    "fnmatch": policy_glob,
    "address": _address_regex,
}


def pattern_key(kind: str, pattern: str) -> str:
    return f"{kind}:{pattern}"


class PatternSet(_Generic[P]):
    """Patterns compiled together, each carrying a payload (what to report when it fires).

    ``mode`` says how a pattern must match the text: ``"full"`` the whole of it (globs,
    addresses), ``"prefix"`` from its start (trailers), ``"search"`` anywhere (messages).
    All matching is case-insensitive; ``cache`` memoises answers for recurring texts.
    ``kind`` says what the patterns are (TRANSLATIONS): regex sources (the default), catalog
    globs, policy globs or catalog address rules; each is translated on first need.

    ``literals`` (pattern_key -> the pattern's rule of gate.git.literals, as the compiled
    settings hold them; the patterns it lacks have none): nothing is translated or compiled up
    front. For each text, a pattern is compiled (once) and tried only when the folded text has
    its literals, which every text it matches has; after ``LITERAL_TEXTS`` texts the combined
    regex takes over. The answers are the same either way. Without ``literals`` the combined
    regex is compiled here, which also checks that the patterns combine (the compiled settings
    hold literals only for patterns that did).
    """

    __slots__ = (
        "_any",
        "_cache",
        "_compiled",
        "_each",
        "_kind",
        "_literals",
        "_mode",
        "_patterns",
        "_sources",
        "_texts",
    )

    def __init__(
        self,
        rules: Iterable[tuple[P, str]],
        *,
        mode: Literal["full", "prefix", "search"],
        cache: bool = False,
        literals: Mapping[str, Rule] | None = None,
        kind: str = "regex",
    ) -> None:
        self._patterns = tuple(rules)
        self._kind = kind
        self._sources: tuple[str, ...] | None = None
        self._any: re.Pattern[str] | None = None
        self._compiled: tuple[tuple[P, re.Pattern[str]], ...] | None = None
        self._mode = mode
        self._cache: dict[str, tuple[tuple[P, str], ...]] | None = {} if cache else None
        self._texts = 0
        self._literals: tuple[Rule | None, ...] | None = None
        self._each: list[re.Pattern[str] | None] = [None] * len(self._patterns)
        if literals is not None and self._patterns:
            self._literals = tuple(
                literals.get(pattern_key(kind, pattern)) for _, pattern in self._patterns
            )
        elif self._patterns:
            self._any = self._combined()

    def sources(self) -> tuple[str, ...]:
        """The regex source of every pattern, in order."""
        if self._sources is None:
            translate = TRANSLATIONS[self._kind]
            self._sources = tuple(translate(pattern) for _, pattern in self._patterns)
        return self._sources

    def keyed_sources(self) -> list[tuple[str, str]]:
        """(pattern_key, regex source) of every pattern: what the compiled settings keep
        literals for."""
        keys = [pattern_key(self._kind, pattern) for _, pattern in self._patterns]
        return list(zip(keys, self.sources(), strict=True))

    def _combined(self) -> re.Pattern[str]:
        import re

        combined = "|".join(f"(?:{source})" for source in self.sources())
        return re.compile(combined, re.IGNORECASE | re.MULTILINE)

    @property
    def _rules(self) -> tuple[tuple[P, re.Pattern[str]], ...]:
        """The rules compiled one by one, on the first hit of the combined regex."""
        if self._compiled is None:
            self._compiled = tuple(
                (payload, self._one(index)) for index, (payload, _) in enumerate(self._patterns)
            )
        return self._compiled

    def _one(self, index: int) -> re.Pattern[str]:
        regex = self._each[index]
        if regex is None:
            import re

            source = TRANSLATIONS[self._kind](self._patterns[index][1])
            regex = self._each[index] = re.compile(source, re.IGNORECASE | re.MULTILINE)
        return regex

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def match(self, text: str) -> tuple[tuple[P, str], ...]:
        """Every (payload, matched text) whose pattern matches ``text``; usually ``()``."""
        if not self._patterns:
            return ()
        if self._cache is not None:
            hit = self._cache.get(text)
            if hit is not None:
                return hit
        if self._literals is not None:
            self._texts += 1
            if self._texts > LITERAL_TEXTS:
                self._literals = None
                self._any = self._combined()
        found = self._match(text) if self._literals is None else self._by_literals(text)
        if self._cache is not None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[text] = found
        return found

    def _by_literals(self, text: str) -> tuple[tuple[P, str], ...]:
        assert self._literals is not None
        folded = fold(text)
        found = []
        for index, rule in enumerate(self._literals):
            if rule is not None and not may_match(folded, (rule,)):
                continue
            regex = self._one(index)
            if self._mode == "full":
                m = regex.fullmatch(text)
            elif self._mode == "prefix":
                m = regex.match(text)
            else:
                m = regex.search(text)
            if m is not None:
                payload = self._patterns[index][0]
                found.append((payload, m.group(0) if self._mode == "search" else text))
        return tuple(found)

    def _match(self, text: str) -> tuple[tuple[P, str], ...]:
        assert self._any is not None
        if self._mode == "full":
            if self._any.fullmatch(text) is None:
                return ()
            return tuple((payload, text) for payload, regex in self._rules if regex.fullmatch(text))
        if self._mode == "prefix":
            if self._any.match(text) is None:
                return ()
            return tuple((payload, text) for payload, regex in self._rules if regex.match(text))
        if self._any.search(text) is None:
            return ()
        found = []
        for payload, regex in self._rules:
            m = regex.search(text)
            if m is not None:
                found.append((payload, m.group(0)))
        return tuple(found)


class CatalogEntry(Frozen):
    """One tool and the rules that recognise its commits (see agents.toml for the meaning)."""

    __slots__ = _fields = (
        "name",
        "source",
        "notes",
        "emails",
        "logins",
        "names",
        "identities",
        "trailers",
        "message",
        "refs",
        "examples",
        "fallback",
    )
    name: str
    source: str
    notes: str
    emails: tuple[str, ...]
    logins: tuple[str, ...]
    names: tuple[str, ...]
    identities: tuple[str, ...]
    trailers: tuple[str, ...]
    message: tuple[str, ...]
    refs: tuple[str, ...]
    examples: tuple[Mapping[str, str], ...]
    # A fallback entry's rules fire on an identity only when no other entry's rule does
    # (a generic rule, such as every app's bot account, would repeat what a specific one says).
    fallback: bool

    def __init__(
        self,
        name: str,
        source: str,
        notes: str,
        emails: tuple[str, ...] = (),
        logins: tuple[str, ...] = (),
        names: tuple[str, ...] = (),
        identities: tuple[str, ...] = (),
        trailers: tuple[str, ...] = (),
        message: tuple[str, ...] = (),
        refs: tuple[str, ...] = (),
        examples: tuple[Mapping[str, str], ...] = (),
        fallback: bool = False,
    ) -> None:
        _set(self, "name", name)
        _set(self, "source", source)
        _set(self, "notes", notes)
        _set(self, "emails", emails)
        _set(self, "logins", logins)
        _set(self, "names", names)
        _set(self, "identities", identities)
        _set(self, "trailers", trailers)
        _set(self, "message", message)
        _set(self, "refs", refs)
        _set(self, "examples", examples)
        _set(self, "fallback", fallback)


# A rule's payload: (agent, rule text as written in the catalog).
_Payload = tuple[str, str]
# A noreply address split into its login, for the dictionary lookup of ``logins`` rules.
# (compiled on first use, by re's own cache: most pushes name no noreply address)
_NOREPLY = r"(?:[0-9]+\+)?([^@]*)@users\.noreply\.[A-Za-z0-9.-]+"


class _AddressSet:
    """The catalog's ``emails`` and ``logins`` rules, matched like one full-match PatternSet.

    ASCII addresses (nearly all) are looked up: literal emails and logins in dictionaries keyed
    by lower case, which for ASCII is exactly what IGNORECASE matching does; only emails with
    wildcards go through a (small) regex. Other text takes the PatternSet of every rule, built
    on first use, because IGNORECASE also folds a few non-ASCII letters onto ASCII ones (the
    Kelvin sign onto k). Answers come in rule order, as PatternSet gives them.
    """

    __slots__ = (
        "_all",
        "_apps",
        "_cache",
        "_globs",
        "_literals",
        "_logins",
        "_prefilter",
        "_rules",
    )

    def __init__(
        self, rules: list[tuple[_Payload, str, str]], literals: Mapping[str, Rule] | None = None
    ) -> None:
        # each rule as a pattern of kind "address" (``email:GLOB``, ``login:LOGIN``)
        self._rules = [(payload, f"{kind}:{rule}") for payload, kind, rule in rules]
        self._literals: dict[str, list[int]] = {}
        self._logins: dict[str, list[int]] = {}
        self._apps: list[int] = []  # ANY_APP rules
        globs: list[tuple[int, str]] = []
        for index, (_, kind, rule) in enumerate(rules):
            if kind == "login" and rule == ANY_APP:
                self._apps.append(index)
            elif kind == "login":
                self._logins.setdefault(rule.lower(), []).append(index)
            elif "*" in rule or "?" in rule:
                globs.append((index, rule))
            else:
                self._literals.setdefault(rule.lower(), []).append(index)
        self._globs: PatternSet[int] = PatternSet(
            globs, mode="full", literals=literals, kind="glob"
        )
        self._all: PatternSet[_Payload] | None = None
        self._prefilter = literals
        self._cache: dict[str, tuple[tuple[_Payload, str], ...]] = {}

    def __bool__(self) -> bool:
        return bool(self._rules)

    def sources(self) -> list[str]:
        """The regex source of every rule, in order."""
        return [_address_regex(rule) for _, rule in self._rules]

    def keyed_sources(self) -> list[tuple[str, str]]:
        every = [pattern_key("address", rule) for _, rule in self._rules]
        return [*zip(every, self.sources(), strict=True), *self._globs.keyed_sources()]

    def match(self, text: str) -> tuple[tuple[_Payload, str], ...]:
        hit = self._cache.get(text)
        if hit is not None:
            return hit
        if text.isascii():
            folded = text.lower()
            found = list(self._literals.get(folded, ()))
            if "@users.noreply." in folded:  # what _NOREPLY needs: no re without it
                import re

                noreply = re.fullmatch(_NOREPLY, folded, re.IGNORECASE)
                if noreply is not None:
                    found += self._logins.get(noreply.group(1), ())
                    if self._apps and re.fullmatch(_APP_LOGIN, noreply.group(1), re.IGNORECASE):
                        found += self._apps
            found += [index for index, _ in self._globs.match(text)]
            answer = tuple((self._rules[index][0], text) for index in sorted(set(found)))
        else:
            if self._all is None:
                self._all = PatternSet(
                    self._rules, mode="full", literals=self._prefilter, kind="address"
                )
            answer = self._all.match(text)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[text] = answer
        return answer


def _regex_error() -> type[Exception]:
    """``re.error``, for an except clause (evaluated only once something was raised: then
    anything that could raise it has imported ``re``)."""
    import re

    return re.error


class Catalog:
    """The compiled catalog. ``match`` returns one Signal per rule that fired on a commit."""

    def __init__(
        self,
        entries: Iterable[CatalogEntry],
        source: str = "<catalog>",
        literals: Mapping[str, Rule] | None = None,
    ) -> None:
        """``literals``: each pattern's required literals, from the compiled settings
        (PatternSet); without them every pattern set is compiled here."""
        self.entries = tuple(entries)
        self.source = source
        self._fallbacks = frozenset(e.name for e in self.entries if e.fallback)
        addresses: list[tuple[_Payload, str, str]] = []  # (payload, "email" or "login", rule)
        names: list[tuple[_Payload, str]] = []
        identities: list[tuple[_Payload, str]] = []
        trailers: list[tuple[_Payload, str]] = []
        message: list[tuple[_Payload, str]] = []
        refs: list[tuple[_Payload, str]] = []
        for e in self.entries:
            addresses += [((e.name, p), "email", p) for p in e.emails]
            addresses += [((e.name, p), "login", p) for p in e.logins]
            names += [((e.name, p), p) for p in e.names]
            identities += [((e.name, p), p) for p in e.identities]
            trailers += [((e.name, p), p) for p in e.trailers]
            message += [((e.name, p), p) for p in e.message]
            refs += [((e.name, p), p) for p in e.refs]
        try:
            self._addresses = _AddressSet(addresses, literals)
            self._names = PatternSet(names, mode="full", cache=True, literals=literals, kind="glob")
            self._identities = PatternSet(
                identities, mode="full", cache=True, literals=literals, kind="glob"
            )
            self._trailers = PatternSet(trailers, mode="prefix", literals=literals)
            self._message = PatternSet(message, mode="search", literals=literals)
            self._refs = PatternSet(refs, mode="full", cache=True, literals=literals, kind="glob")
        except _regex_error() as exc:  # single patterns were checked; this is a clash of them
            raise GateError(f"{source}: the patterns cannot be combined: {exc}") from None

    @property
    def evidence_sources(self) -> tuple[str, ...]:
        """Regex sources of every rule that is evidence on its own (refs are not): the hook's
        fast path reduces them to required literals (gate.git.literals)."""
        sets = (self._names, self._identities, self._trailers, self._message)
        return (
            *self._addresses.sources(),
            *(source for patterns in sets for source in patterns.sources()),
        )

    def keyed_sources(self) -> list[tuple[str, str]]:
        """(pattern_key, regex source) of every pattern, refs and address globs included:
        what the compiled settings keep literals for."""
        sets = (self._names, self._identities, self._trailers, self._message, self._refs)
        return [
            *self._addresses.keyed_sources(),
            *(pair for patterns in sets for pair in patterns.keyed_sources()),
        ]

    def match(self, commit: Commit, ref: str | None = None) -> list[Signal]:
        signals: list[Signal] = []
        for kind, person in (("author", commit.author), ("committer", commit.committer)):
            self._match_identity(kind, person.name, person.email, None, signals)
            for (agent, rule), text in self._names.match(person.name):
                signals.append(Signal(kind, "catalog", agent, rule, text))
        for key, value in commit.marks:
            line = f"{key}: {value}"
            for (agent, rule), text in self._trailers.match(line):
                signals.append(Signal("trailer", "catalog", agent, rule, text))
            if key.lower() in _PERSON_TRAILERS:
                for name, email in co_authors(value):
                    self._match_identity("trailer", name, email, line, signals)
        for (agent, rule), text in self._message.match(commit.message):
            signals.append(Signal("message", "catalog", agent, rule, text))
        if ref is not None:
            for (agent, rule), text in self._refs.match(ref):
                signals.append(Signal("ref", "catalog", agent, rule, text))
        return signals

    def _match_identity(
        self, kind: str, name: str, email: str, evidence: str | None, out: list[Signal]
    ) -> None:
        found = [
            Signal(kind, "catalog", agent, rule, evidence or text)
            for (agent, rule), text in self._addresses.match(email)
        ]
        if self._identities:
            pair = f"{name} <{email}>"
            for (agent, rule), text in self._identities.match(pair):
                found.append(Signal(kind, "catalog", agent, rule, evidence or text))
        if any(signal.agent not in self._fallbacks for signal in found):
            found = [signal for signal in found if signal.agent not in self._fallbacks]
        out += found


def parse_catalog(data: bytes | str, source: str = "<catalog>") -> Catalog:
    """Validate and compile catalog TOML; any problem raises GateError naming the entry."""
    return Catalog(parse_catalog_entries(data, source), source)


def parse_catalog_entries(data: bytes | str, source: str = "<catalog>") -> list[CatalogEntry]:
    """Validate catalog TOML into entries (compiled by Catalog); problems raise GateError."""
    import tomllib

    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        doc = tomllib.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise GateError(f"{source}: not a valid TOML file: {exc}") from None
    extra = set(doc) - {"agent"}
    if extra:
        raise GateError(f"{source}: unknown top-level keys: {', '.join(sorted(extra))}")
    raw_entries = doc.get("agent")
    if not isinstance(raw_entries, list) or not raw_entries:
        raise GateError(f"{source}: expected one or more [[agent]] tables")
    entries = [_parse_entry(raw, index, source) for index, raw in enumerate(raw_entries, 1)]
    seen: set[str] = set()
    for entry in entries:
        if entry.name.casefold() in seen:
            raise GateError(f"{source}: agent {entry.name!r} is defined twice")
        seen.add(entry.name.casefold())
    return entries


def _parse_entry(raw: Any, index: int, source: str) -> CatalogEntry:
    where = f"{source}: [[agent]] #{index}"
    if not isinstance(raw, dict):
        raise GateError(f"{where}: expected a table")
    name = raw.get("name")
    if isinstance(name, str) and name.strip():
        where = f"{source}: agent {name!r}"
    else:
        raise GateError(f"{where}: 'name' must be a non-empty string")
    extra = set(raw) - _ENTRY_KEYS
    if extra:
        raise GateError(f"{where}: unknown keys: {', '.join(sorted(extra))}")
    for key in ("source", "notes"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise GateError(f"{where}: {key!r} must be a non-empty string")
    rules: dict[str, tuple[str, ...]] = {}
    for kind in RULE_KINDS:
        values = raw.get(kind, [])
        if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
            raise GateError(f"{where}: {kind!r} must be a list of non-empty strings")
        for value in values:
            _check_rule(kind, value, where)
        rules[kind] = tuple(values)
    if not any(rules.values()):
        raise GateError(f"{where}: no rules (give at least one of {', '.join(RULE_KINDS)})")
    fallback = raw.get("fallback", False)
    if not isinstance(fallback, bool):
        raise GateError(f"{where}: 'fallback' must be true or false")
    examples = raw.get("example", [])
    if not isinstance(examples, list):
        raise GateError(f"{where}: 'example' must be [[agent.example]] tables")
    for example in examples:
        ok = isinstance(example, dict) and example and set(example) <= _EXAMPLE_KEYS
        if not ok or not all(isinstance(v, str) for v in example.values()):
            keys = ", ".join(sorted(_EXAMPLE_KEYS))
            raise GateError(f"{where}: each example is a table of strings with keys {keys}")
    return CatalogEntry(
        name=name.strip(),
        source=raw["source"].strip(),
        notes=raw["notes"].strip(),
        examples=tuple(examples),
        fallback=fallback,
        **rules,
    )


def _check_rule(kind: str, value: str, where: str) -> None:
    import re

    if kind == "logins":
        if value != ANY_APP and not re.fullmatch(_LOGIN, value):
            raise GateError(f"{where}: {value!r} is not an account login like 'dependabot[bot]'")
        return
    if kind not in ("trailers", "message"):
        return  # globs: every string is a valid glob
    try:
        compiled = re.compile(value)
    except re.error as exc:
        raise GateError(f"{where}: {kind} pattern {value!r} is not a valid regex: {exc}") from None
    if compiled.groupindex or compiled.groups:
        # Groups would clash or renumber once the patterns are combined into one regex.
        raise GateError(f"{where}: {kind} pattern {value!r} must use (?:...) instead of groups")


BUILTIN_SOURCE = "gate/data/agents.toml"


def builtin_catalog_path() -> str:
    """The built-in catalog file, beside this module (package data in wheels too)."""
    import os

    return os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "agents.toml"
    )


def builtin_catalog_bytes() -> bytes:
    """The built-in catalog file's bytes."""
    path = builtin_catalog_path()
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        raise GateError(f"cannot read the built-in agent catalog: {exc}") from None


_loaded: list[Catalog] = []  # (not functools.cache: functools is no import of the hook's)


def load_catalog() -> Catalog:
    """The built-in catalog shipped as package data (parsed and compiled once per process)."""
    if not _loaded:
        _loaded.append(parse_catalog(builtin_catalog_bytes(), source=BUILTIN_SOURCE))
    return _loaded[0]
