"""The policy file: which refs are protected, which paths are guarded, who counts as an agent.

The file is TOML; docs/policy.md is the reference. ``parse_policy`` checks the whole file and
raises one ``PolicyError`` listing every problem with its line number, so an admin fixes them
all in one go. Nothing else can escape it, whatever the bytes.

Import cost matters: the pre-receive hook imports this module on every push, and most pushes
only need ``Policy.is_protected``. ``pathspec`` (about 50 ms to import) is therefore imported
only to translate guard patterns into regexes (``guard_rules``); the hook caches that
translation (gate.git.settings) and matches with ``GuardMatcher``, which replays pathspec's
GitIgnoreSpec decision without importing it. ``tomllib`` and ``hashlib`` are imported only when
a file is parsed. Validation of gitignore patterns is done here, without pathspec (tests check
that the two agree).
"""

from __future__ import annotations

import bisect
import contextlib
import fnmatch
import os
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from gate.errors import GateError
from gate.git.refs import is_protected as ref_is_protected

if TYPE_CHECKING:
    import pathspec

TOP_LEVEL_KEYS = ("protected_refs", "guard", "agents")
GUARD_KEYS = ("name", "paths", "approvals")
AGENT_KEYS = ("builtin", "pushers", "emails", "names", "trailers", "owners")
AGENT_GLOB_KEYS = ("pushers", "emails", "names", "trailers")

Problem = tuple[int | None, str]
KeyPath = tuple[str | int, ...]


class PolicyError(GateError):
    """A policy file that cannot be used; ``problems`` holds (line or None, message) pairs."""

    def __init__(self, source: str, problems: list[tuple[int | None, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = [
            f"{source}:{line}: {msg}" if line else f"{source}: {msg}" for line, msg in problems
        ]
        super().__init__(lines[0] if lines else f"{source}: invalid policy", lines=lines)


# --------------------------------------------------------------------------------------------
# The policy objects


@dataclass(frozen=True)
class Guard:
    """A named set of gitignore-style path patterns whose changes need ``approvals`` reviewers."""

    name: str
    paths: tuple[str, ...]
    approvals: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "paths", tuple(self.paths))

    @cached_property
    def _spec(self) -> pathspec.GitIgnoreSpec:
        return compile_path_patterns(self.paths, source=f"guard {self.name!r}")

    @cached_property
    def _matcher(self) -> GuardMatcher:
        return GuardMatcher(guard_rules(self.paths, source=f"guard {self.name!r}"))

    def use_rules(self, rules: GuardRules) -> None:
        """Match with rules translated earlier by ``guard_rules`` (the hook's cache)."""
        self.__dict__["_matcher"] = GuardMatcher(rules)

    @property
    def rules(self) -> GuardRules:
        """The regexes this guard matches with, for the hook's cache."""
        return self._matcher.rules

    def matches(self, path: str) -> bool:
        """Whether the repository-relative ``path`` is guarded (gitignore semantics, with '!')."""
        return self._matcher.matches(path)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "paths": list(self.paths), "approvals": self.approvals}


@dataclass(frozen=True)
class AgentRules:
    """Policy rules that mark a commit as an agent's, on top of the built-in catalog.

    Pusher, email and name globs are case-insensitive fnmatch patterns over the whole value;
    trailer globs match the trailer written as "Key: value", also case-insensitively.
    """

    builtin: bool = True
    pushers: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    trailers: tuple[str, ...] = ()
    owners: tuple[tuple[str, str], ...] = ()  # (agent pusher name, operator's email)

    def __post_init__(self) -> None:
        for key in AGENT_GLOB_KEYS:
            object.__setattr__(self, key, tuple(getattr(self, key)))
        object.__setattr__(self, "owners", tuple((k, v) for k, v in self.owners))

    def owner_of(self, pusher: str | None) -> str | None:
        """The email of the human who operates the agent account ``pusher``, if the policy says."""
        if not pusher:
            return None
        folded = pusher.casefold()
        return next((email for name, email in self.owners if name.casefold() == folded), None)

    def match_pusher(self, pusher: str) -> str | None:
        """The first ``pushers`` glob matching the authenticated pusher name, or None."""
        return _first_glob(self.pushers, pusher)

    def match_email(self, email: str) -> str | None:
        """The first ``emails`` glob matching an author or committer email, or None."""
        return _first_glob(self.emails, email)

    def match_name(self, name: str) -> str | None:
        """The first ``names`` glob matching an author or committer name, or None."""
        return _first_glob(self.names, name)

    def match_trailer(self, key: str, value: str) -> str | None:
        """The first ``trailers`` glob matching the trailer ``key: value``, or None."""
        return _first_glob(self.trailers, f"{key.strip()}: {value.strip()}")

    def to_dict(self) -> dict[str, Any]:
        return (
            {"builtin": self.builtin}
            | {key: list(getattr(self, key)) for key in AGENT_GLOB_KEYS}
            | {"owners": dict(self.owners)}
        )


@dataclass(frozen=True)
class Policy:
    """A checked policy file. ``sha256`` is the hash of the file's bytes, for the audit log."""

    protected_refs: tuple[str, ...]
    guards: tuple[Guard, ...]
    agents: AgentRules
    sha256: str
    source: str = "<policy>"

    def __post_init__(self) -> None:
        object.__setattr__(self, "protected_refs", tuple(self.protected_refs))
        object.__setattr__(self, "guards", tuple(self.guards))

    def is_protected(self, ref: str) -> bool:
        """Whether pushes to ``ref`` are checked ('*' within one component, '**' across)."""
        return ref_is_protected(ref, self.protected_refs)

    def guards_for(self, path: str) -> list[Guard]:
        """The guards whose patterns match ``path``, in policy order."""
        return [guard for guard in self.guards if guard.matches(path)]

    def guards_for_paths(self, paths: Iterable[str]) -> dict[str, list[str]]:
        """Guard name -> the given paths it matches (sorted, deduplicated); unmatched left out."""
        unique = sorted(set(paths))
        result: dict[str, list[str]] = {}
        for guard in self.guards:
            matched = [path for path in unique if guard.matches(path)]
            if matched:
                result[guard.name] = matched
        return result

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy, for the audit log and the API."""
        return {
            "source": self.source,
            "sha256": self.sha256,
            "protected_refs": list(self.protected_refs),
            "guards": [guard.to_dict() for guard in self.guards],
            "agents": self.agents.to_dict(),
        }


def policy_summary(policy: Policy) -> str:
    """A few lines for people: what ``gate policy check FILE`` prints when the file is good."""
    lines = [
        f"policy {policy.source} (sha256 {policy.sha256[:12]})",
        f"protected refs: {', '.join(policy.protected_refs) or '(none)'}",
        f"guards ({len(policy.guards)}):",
    ]
    for guard in policy.guards:
        plural = "approval" if guard.approvals == 1 else "approvals"
        lines.append(f"  {guard.name}: {guard.approvals} {plural}; {', '.join(guard.paths)}")
    agents = policy.agents
    lines.append("agents:")
    lines.append(f"  built-in catalog: {'on' if agents.builtin else 'off'}")
    for key in AGENT_GLOB_KEYS:
        patterns = getattr(agents, key)
        if patterns:
            lines.append(f"  {key}: {', '.join(patterns)}")
    for name, email in agents.owners:
        lines.append(f"  owner of {name}: {email}")
    return "\n".join(lines)


def _first_glob(patterns: Iterable[str], value: str) -> str | None:
    folded = value.casefold()
    for pattern in patterns:
        if fnmatch.fnmatchcase(folded, pattern.casefold()):
            return pattern
    return None


# --------------------------------------------------------------------------------------------
# Ref patterns: '*' within one component, '**' across components, everything else literal

_REF_FORBIDDEN = set(" ~^:?[\\\x7f") | {chr(code) for code in range(32)}


def ref_pattern_regex(pattern: str) -> str:
    """The regular expression (for ``fullmatch``) of one protected-ref pattern."""
    parts = pattern.split("/")
    out = []
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            out.append(r"[^/]+(?:/[^/]+)*" if last else r"(?:[^/]+/)*")
            continue
        out.append("[^/]*".join(re.escape(chunk) for chunk in part.split("*")))
        if not last:
            out.append("/")
    return "".join(out)


def compile_ref_patterns(patterns: Iterable[str]) -> re.Pattern[str]:
    """One regex for all protected-ref patterns; use ``fullmatch``. Matches nothing if empty."""
    alternatives = [f"(?:{ref_pattern_regex(pattern)})" for pattern in patterns]
    return re.compile("|".join(alternatives) or "(?!)")


def check_ref_pattern(pattern: str) -> str | None:
    """Why ``pattern`` is not a usable protected-ref pattern, or None if it is."""
    if not pattern.startswith("refs/"):
        return f"must start with 'refs/' (did you mean {_suggest_ref(pattern)!r}?)"
    bad = sorted({char for char in pattern if char in _REF_FORBIDDEN})
    if bad:
        shown = " ".join(repr(char) for char in bad)
        return f"contains {shown}, not allowed in a ref name (only '*' and '**' are wildcards)"
    for part in pattern.split("/"):
        if not part:
            return "has an empty path component ('//' or a trailing '/')"
        if "**" in part and part != "**":
            return (
                "has '**' inside a component; '**' must be a whole component, as in 'refs/tags/**'"
            )
        if part.startswith(".") or part.endswith(".lock"):
            return f"has component {part!r}; ref components cannot start with '.' or end in '.lock'"
    if ".." in pattern or "@{" in pattern or pattern.endswith("."):
        return "is not a valid ref name ('..', '@{' and a trailing '.' are not allowed)"
    return None


def _suggest_ref(pattern: str) -> str:
    stripped = pattern.strip().lstrip("/")
    if stripped.startswith(("heads/", "tags/")):
        return f"refs/{stripped}"
    return f"refs/heads/{stripped or 'main'}"


# --------------------------------------------------------------------------------------------
# Guard path patterns: gitignore-style, compiled by pathspec on first use


def compile_path_patterns(
    patterns: Iterable[str], source: str = "<patterns>"
) -> pathspec.GitIgnoreSpec:
    """A pathspec ``GitIgnoreSpec`` for checked patterns; PolicyError if pathspec rejects one."""
    import pathspec  # lazy on purpose: see the module docstring

    patterns = list(patterns)
    try:
        with warnings.catch_warnings():
            # '[[]' (a literal '[') makes re warn about a "possible nested set".
            warnings.simplefilter("ignore", FutureWarning)
            return pathspec.GitIgnoreSpec.from_lines(patterns)
    except (ValueError, re.error) as exc:  # GitIgnorePatternError is a ValueError
        raise PolicyError(source, [(None, f"invalid path pattern: {exc}")]) from None


# (regex source, include) per pattern that is not a no-op, in policy order.
GuardRules = tuple[tuple[str, bool], ...]
_DIR_MARK = "ps_d"  # the group pathspec's gitignore regexes set when a directory pattern matched


def guard_rules(patterns: Iterable[str], source: str = "<patterns>") -> GuardRules:
    """pathspec's own translation of checked gitignore patterns into regexes."""
    spec = compile_path_patterns(patterns, source)
    return tuple(
        (pattern.regex.pattern, bool(pattern.include))
        for pattern in spec.patterns
        if pattern.include is not None and pattern.regex is not None
    )


class GuardMatcher:
    """Replays pathspec's GitIgnoreSpec decision (its simple backend) over translated rules.

    Patterns are tried last to first: a file pattern (priority 2) decides at once; a directory
    pattern (priority 1, ``ps_d`` matched) decides unless a later file pattern does. Paths are
    normalised as pathspec does with ``separators=()``. Tests compare it with pathspec.
    """

    __slots__ = ("_reversed", "rules")

    def __init__(self, rules: GuardRules) -> None:
        self.rules = tuple((str(source), bool(include)) for source, include in rules)
        self._reversed = [(re.compile(source), include) for source, include in reversed(self.rules)]

    def matches(self, path: str) -> bool:
        if path.startswith("/"):
            path = path[1:]
        elif path.startswith("./"):
            path = path[2:]
        decided: bool | None = None
        best = 0
        for regex, include in self._reversed:
            match = regex.search(path)
            if match is None:
                continue
            priority = 1 if match.groupdict().get(_DIR_MARK) else 2
            if priority > best:
                decided, best = include, priority
            if priority == 2:
                break
        return bool(decided)


def check_path_pattern(pattern: str) -> str | None:
    """Why the gitignore-style ``pattern`` cannot be used in a guard, or None if it can.

    Rejects what pathspec rejects, and also what gitignore silently ignores (blank lines,
    comments, unclosed '[') since a guard pattern that matches nothing is always a mistake.
    """
    if not pattern.strip():
        return "is empty and matches nothing"
    if any(char in pattern for char in "\n\r\0"):
        return "contains a line break or NUL character"
    if pattern.startswith("#"):
        return "starts with '#', which gitignore reads as a comment; write '\\#' for a literal '#'"
    if pattern != pattern.rstrip() and not pattern.endswith("\\ "):
        return "ends with whitespace, which gitignore ignores; remove it or escape it as '\\ '"
    body = pattern[1:] if pattern.startswith("!") else pattern
    if not body.replace("/", ""):
        return "matches nothing"
    for segment in body.split("/"):
        reason = _check_segment(segment)
        if reason:
            return reason
    return None


def _check_segment(segment: str) -> str | None:
    """Mirror pathspec's per-component glob translation, reporting what it would refuse."""
    index, end = 0, len(segment)
    while index < end:
        char = segment[index]
        index += 1
        if char == "\\":
            if index == end:
                return "has a '\\' with nothing after it to escape"
            index += 1
        elif char == "[":
            close = _bracket_end(segment, index)
            if close is None:
                return "has an unclosed '[' (git ignores such a pattern)"
            reason = _check_bracket(segment[index : close - 1])
            if reason:
                return reason
            index = close
    return None


def _bracket_end(segment: str, start: int) -> int | None:
    """One past the ']' closing the bracket expression that starts after '[' at ``start``."""
    index, end = start, len(segment)
    if index < end and segment[index] in "!^":
        index += 1
    if index < end and segment[index] == "]":
        index += 1
    while index < end and segment[index] != "]":
        index += 1
    return index + 1 if index < end else None


def _check_bracket(inner: str) -> str | None:
    if inner.startswith("[:") or "[:" in inner:
        return "uses a character class such as '[[:alpha:]]', which is not supported"
    negated = inner[:1] in ("!", "^")
    expr = "[" + ("^" + inner[1:] if negated else inner).replace("\\", "\\\\") + "]"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            re.compile(expr)
    except re.error as exc:
        return f"has an invalid bracket expression '[{inner}]' ({exc.msg})"
    return None


# --------------------------------------------------------------------------------------------
# Agent globs


def check_agent_glob(key: str, pattern: str) -> str | None:
    """Why ``pattern`` cannot be used in ``[agents] key``, or None if it can."""
    if not pattern.strip():
        return "is empty"
    if any(ord(char) < 32 for char in pattern):
        return "contains a control character"
    if _has_unclosed_bracket(pattern):
        return "has an unclosed '['"
    if key == "trailers":
        trailer_key = pattern.partition(":")[0]
        if ":" not in pattern or not trailer_key:
            return "must look like 'Key: value', for example 'Assisted-by:*'"
        if not re.fullmatch(r"[A-Za-z0-9*?\[\]!-]+", trailer_key):
            return f"has an invalid trailer key {trailer_key!r} (letters, digits and '-' only)"
    return None


def _has_unclosed_bracket(pattern: str) -> bool:
    index = pattern.find("[")
    while index != -1:
        close = _bracket_end(pattern, index + 1)
        if close is None:
            return True
        index = pattern.find("[", close)
    return False


# --------------------------------------------------------------------------------------------
# Line numbers for TOML that tomllib accepted


_BARE_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class SourceMap:
    """Line numbers of the tables, keys and array elements in TOML text that tomllib accepted.

    Paths are tuples as in the parsed document: ``("guard", 0, "paths", 2)`` is the third
    pattern of the first ``[[guard]]``. Best effort: on anything unexpected it keeps what it
    found so far, and ``line`` falls back to the nearest enclosing entry.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.lines: dict[KeyPath, int] = {}
        self._newlines = [index for index, char in enumerate(text) if char == "\n"]
        self._arrays_of_tables: dict[KeyPath, int] = {}
        with contextlib.suppress(IndexError, ValueError, RecursionError):  # TOMLDecodeError too
            self._document()

    def line(self, path: KeyPath) -> int | None:
        """The line of ``path``, else of its nearest recorded parent, else None."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None

    def _line_at(self, pos: int) -> int:
        return bisect.bisect_left(self._newlines, pos) + 1

    def _peek(self, count: int = 1) -> str:
        return self.text[self.pos : self.pos + count]

    def _skip_blank(self, newlines: bool) -> None:
        spaces = " \t\r\n" if newlines else " \t"
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in spaces:
                self.pos += 1
            elif char == "#" and newlines:
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end == -1 else end
            else:
                return

    def _document(self) -> None:
        table: KeyPath = ()
        while True:
            self._skip_blank(newlines=True)
            if self.pos >= len(self.text):
                return
            line = self._line_at(self.pos)
            if self._peek(2) == "[[":
                self.pos += 2
                table = self._resolve(self._key(), array=True)
                self.pos += 2
                self._record_prefixes(table, line)
            elif self._peek() == "[":
                self.pos += 1
                table = self._resolve(self._key(), array=False)
                self.pos += 1
                self._record_prefixes(table, line)
            else:
                self._key_value(table)
            self._skip_blank(newlines=False)

    def _record_prefixes(self, path: KeyPath, line: int) -> None:
        for depth in range(1, len(path) + 1):
            self.lines.setdefault(path[:depth], line)

    def _resolve(self, key: KeyPath, array: bool) -> KeyPath:
        out: list[str | int] = []
        for index, part in enumerate(key):
            out.append(part)
            prefix = tuple(out)
            if array and index == len(key) - 1:
                count = self._arrays_of_tables.get(prefix, 0)
                self._arrays_of_tables[prefix] = count + 1
                out.append(count)
            elif prefix in self._arrays_of_tables:
                out.append(self._arrays_of_tables[prefix] - 1)
        return tuple(out)

    def _key(self) -> KeyPath:
        start = self.pos
        while True:
            self._skip_blank(newlines=False)
            char = self._peek()
            if char in ('"', "'"):
                self._string()
            else:
                while self.pos < len(self.text) and self.text[self.pos] in _BARE_KEY_CHARS:
                    self.pos += 1
            self._skip_blank(newlines=False)
            if self._peek() != ".":
                break
            self.pos += 1
        return _decode_key(self.text[start : self.pos])

    def _key_value(self, table: KeyPath) -> None:
        line = self._line_at(self.pos)
        key = self._key()
        self._record_prefixes(table + key, line)
        self.pos += 1  # '='
        self._skip_blank(newlines=False)
        self._value(table + key)

    def _value(self, path: KeyPath) -> None:
        char = self._peek()
        if char == "[":
            self._array(path)
        elif char == "{":
            self._inline_table(path)
        elif char in ('"', "'"):
            self._string()
        else:
            while self.pos < len(self.text) and self.text[self.pos] not in ",]}#\r\n":
                self.pos += 1

    def _array(self, path: KeyPath) -> None:
        self.pos += 1
        index = 0
        while True:
            self._skip_blank(newlines=True)
            if self._peek() == "]":
                self.pos += 1
                return
            self.lines.setdefault((*path, index), self._line_at(self.pos))
            self._value((*path, index))
            index += 1
            self._skip_blank(newlines=True)
            if self._peek() == ",":
                self.pos += 1

    def _inline_table(self, path: KeyPath) -> None:
        self.pos += 1
        while True:
            self._skip_blank(newlines=False)
            if self._peek() == "}":
                self.pos += 1
                return
            self._key_value(path)
            self._skip_blank(newlines=False)
            if self._peek() == ",":
                self.pos += 1

    def _string(self) -> None:
        for quote in ('"""', "'''", '"', "'"):
            if self.text.startswith(quote, self.pos):
                break
        escapes = quote[0] == '"'
        index = self.pos + len(quote)
        while not self.text.startswith(quote, index):
            if index >= len(self.text):
                raise ValueError("unterminated string")
            index += 2 if escapes and self.text[index] == "\\" else 1
        index += len(quote)
        if len(quote) == 3:  # up to two quotes may end the content: """a""""
            extra = 0
            while extra < 2 and self.text.startswith(quote[0], index):
                index, extra = index + 1, extra + 1
        self.pos = index


def _decode_key(raw: str) -> KeyPath:
    """The parts of a (dotted, quoted) TOML key, decoded by tomllib itself."""
    import tomllib

    node: Any = tomllib.loads(f"{raw} = 0")
    parts: list[str | int] = []
    while isinstance(node, dict):
        ((name, node),) = node.items()
        parts.append(name)
    return tuple(parts)


# --------------------------------------------------------------------------------------------
# Reading and checking the file


def parse_policy(data: bytes, source: str = "<policy>") -> Policy:
    """The policy in ``data`` (the file's bytes), or PolicyError listing every problem."""
    text = _decode(data, source)
    doc = _load_toml(text, source)
    checker = _Checker(doc, SourceMap(text))
    checker.check()
    if checker.problems:
        raise PolicyError(source, sorted(checker.problems, key=lambda problem: problem[0] or 0))
    import hashlib

    return build_policy(doc, sha256=hashlib.sha256(data).hexdigest(), source=source)


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read and check the policy file at ``path``."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as exc:
        raise PolicyError(str(path), [(None, f"cannot read policy file: {exc.strerror}")]) from None
    return parse_policy(data, str(path))


def _decode(data: bytes, source: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = data[exc.start]
        message = f"not valid UTF-8 (byte 0x{byte:02x} at column {column}); save the file as UTF-8"
        raise PolicyError(source, [(line, message)]) from None
    text = text.removeprefix("\ufeff")
    if not text.strip():
        hint = "it needs protected_refs and at least one [[guard]]"
        raise PolicyError(source, [(None, f"the policy file is empty; {hint}")])
    return text


_TOML_POSITION = re.compile(
    r"^(?P<msg>.*?) \(at (?:line (?P<line>\d+), column (?P<col>\d+)|end of document)\)$"
)


def _load_toml(text: str, source: str) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError, RecursionError) as exc:
        raise PolicyError(source, [_toml_problem(str(exc), text)]) from None


def _toml_problem(message: str, text: str) -> Problem:
    found = _TOML_POSITION.match(message)
    if not found:
        return (None, f"TOML syntax error: {message}")
    if found["line"] is None:
        last_line = text.rstrip("\n").count("\n") + 1
        return (last_line, f"TOML syntax error: {found['msg']} (at end of file)")
    return (int(found["line"]), f"TOML syntax error: {found['msg']} (column {found['col']})")


def _type_name(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names |= {list: "a list", dict: "a table"}
    return names.get(type(value), "a date or time")


def _did_you_mean(key: str, allowed: Iterable[str]) -> str:
    import difflib  # only needed when something is wrong

    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class _Checker:
    """Walks a parsed policy document and collects every problem with its line."""

    def __init__(self, doc: dict[str, Any], where: SourceMap) -> None:
        self.doc = doc
        self.where = where
        self.problems: list[Problem] = []

    def report(self, path: KeyPath, message: str) -> None:
        self.problems.append((self.where.line(path), message))

    def check(self) -> None:
        self.check_unknown_keys((), self.doc, TOP_LEVEL_KEYS, "top-level key")
        self.check_refs()
        self.check_guards()
        self.check_agents()

    def check_unknown_keys(
        self, path: KeyPath, table: dict[str, Any], allowed: tuple[str, ...], what: str
    ) -> None:
        for key in table:
            if key not in allowed:
                known = ", ".join(allowed)
                self.report(
                    (*path, key),
                    f"unknown {what} {key!r}{_did_you_mean(key, allowed)} (known: {known})",
                )

    def string_list(
        self, path: KeyPath, value: object, name: str, owner: str = ""
    ) -> Iterator[tuple[int, str]]:
        """Yield (index, item) for the strings of a list, reporting a wrong type for the rest.

        ``owner`` prefixes the messages, as in "guard 'model': ".
        """
        if not isinstance(value, list):
            simple = isinstance(value, str) and not any(char in value for char in '"\\\n')
            hint = f' (write {name} = ["{value}"])' if simple else ""
            self.report(
                path, f"{owner}{name!r} must be a list of strings, not {_type_name(value)}{hint}"
            )
            return
        seen: set[str] = set()
        for index, item in enumerate(value):
            if not isinstance(item, str):
                message = f"{owner}{name!r} entries must be strings, not {_type_name(item)}"
                self.report((*path, index), message)
            elif item in seen:
                self.report((*path, index), f"{owner}{name!r} lists {item!r} twice")
            else:
                seen.add(item)
                yield index, item

    def check_refs(self) -> None:
        path: KeyPath = ("protected_refs",)
        if "protected_refs" not in self.doc:
            self.report(
                path, "missing required key 'protected_refs' (for example [\"refs/heads/main\"])"
            )
            return
        value = self.doc["protected_refs"]
        if value == []:
            self.report(path, "'protected_refs' is empty; list at least one ref pattern")
        for index, pattern in self.string_list(path, value, "protected_refs"):
            reason = check_ref_pattern(pattern)
            if reason:
                self.report((*path, index), f"protected ref {pattern!r} {reason}")

    def check_guards(self) -> None:
        guards = self.doc.get("guard")
        if guards is None or guards == []:
            self.report(
                ("guard",), "no [[guard]] tables: add at least one guard with a name and paths"
            )
            return
        if not isinstance(guards, list) or not all(isinstance(guard, dict) for guard in guards):
            self.report(
                ("guard",), "'guard' must be an array of tables: write [[guard]], not [guard]"
            )
            return
        first_line: dict[str, int | None] = {}
        for index, guard in enumerate(guards):
            name = self.check_guard(("guard", index), guard, index)
            if name is None:
                continue
            if name in first_line:
                where = f" (first defined on line {first_line[name]})" if first_line[name] else ""
                self.report(("guard", index, "name"), f"duplicate guard name {name!r}{where}")
            else:
                first_line[name] = self.where.line(("guard", index, "name"))

    def check_guard(self, path: KeyPath, guard: dict[str, Any], index: int) -> str | None:
        """Check one [[guard]]; return its name if it has a usable one."""
        self.check_unknown_keys(path, guard, GUARD_KEYS, "guard key")
        name = self.check_guard_name(path, guard, index)
        label = f"guard {name!r}" if name else f"guard #{index + 1}"
        self.check_guard_paths(path, guard, label)
        self.check_approvals(path, guard, label)
        return name

    def check_guard_name(self, path: KeyPath, guard: dict[str, Any], index: int) -> str | None:
        if "name" not in guard:
            self.report(path, f"guard #{index + 1} has no 'name'")
            return None
        name = guard["name"]
        if not isinstance(name, str):
            self.report((*path, "name"), f"guard 'name' must be a string, not {_type_name(name)}")
            return None
        if not name.strip():
            self.report((*path, "name"), f"guard #{index + 1} has an empty name")
            return None
        if not name.isprintable():
            self.report((*path, "name"), f"guard name {name!r} contains control characters")
        return name

    def check_guard_paths(self, path: KeyPath, guard: dict[str, Any], label: str) -> None:
        if "paths" not in guard:
            self.report(path, f"{label} has no 'paths' (for example paths = [\"train/**\"])")
            return
        patterns = guard["paths"]
        if patterns == []:
            self.report((*path, "paths"), f"{label} has no paths; list at least one pattern")
        good = []
        for index, pattern in self.string_list((*path, "paths"), patterns, "paths", f"{label}: "):
            reason = check_path_pattern(pattern)
            if reason:
                self.report((*path, "paths", index), f"{label}: path pattern {pattern!r} {reason}")
            else:
                good.append(pattern)
        if good and len(good) == len(patterns) and all(p.startswith("!") for p in good):
            self.report((*path, "paths"), f"{label} has only '!' patterns, so it guards nothing")

    def check_approvals(self, path: KeyPath, guard: dict[str, Any], label: str) -> None:
        approvals = guard.get("approvals", 1)
        if isinstance(approvals, bool) or not isinstance(approvals, int):
            given = "true/false" if isinstance(approvals, bool) else _type_name(approvals)
            self.report(
                (*path, "approvals"), f"{label}: 'approvals' must be a whole number, not {given}"
            )
        elif approvals < 1:
            self.report(
                (*path, "approvals"), f"{label}: 'approvals' must be at least 1, not {approvals}"
            )

    def check_agents(self) -> None:
        agents = self.doc.get("agents", {})
        if not isinstance(agents, dict):
            self.report(
                ("agents",), f"'agents' must be a table ([agents]), not {_type_name(agents)}"
            )
            return
        self.check_unknown_keys(("agents",), agents, AGENT_KEYS, "[agents] key")
        builtin = agents.get("builtin", True)
        if not isinstance(builtin, bool):
            self.report(
                ("agents", "builtin"), f"'builtin' must be true or false, not {_type_name(builtin)}"
            )
        for key in AGENT_GLOB_KEYS:
            path: KeyPath = ("agents", key)
            for index, pattern in self.string_list(path, agents.get(key, []), key, "[agents] "):
                reason = check_agent_glob(key, pattern)
                if reason:
                    self.report((*path, index), f"[agents] {key} pattern {pattern!r} {reason}")
        self.check_owners(agents.get("owners", {}))

    def check_owners(self, owners: object) -> None:
        """[agents.owners]: agent pusher name = "email of the human who operates it"."""
        path: KeyPath = ("agents", "owners")
        if not isinstance(owners, dict):
            self.report(
                path,
                f"'owners' must be a table ([agents.owners], pusher = \"email\"), not {_type_name(owners)}",
            )
            return
        for name, email in owners.items():
            where = (*path, name)
            if not name.strip() or any(ord(char) < 32 for char in name):
                self.report(
                    where,
                    f"[agents.owners] pusher name {name!r} is empty or has control characters",
                )
            if not isinstance(email, str):
                self.report(
                    where,
                    f"[agents.owners] owner of {name!r} must be an email string, not {_type_name(email)}",
                )
            elif not _OWNER_EMAIL.fullmatch(email):
                self.report(
                    where, f"[agents.owners] owner of {name!r} is not an email address: {email!r}"
                )


_OWNER_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+")


def build_policy(doc: dict[str, Any], sha256: str, source: str) -> Policy:
    """A Policy from a document the checker found no problem in (or the hook's cache of one)."""
    agents = doc.get("agents", {})
    return Policy(
        protected_refs=tuple(doc["protected_refs"]),
        guards=tuple(
            Guard(
                name=guard["name"], paths=tuple(guard["paths"]), approvals=guard.get("approvals", 1)
            )
            for guard in doc["guard"]
        ),
        agents=AgentRules(
            builtin=agents.get("builtin", True),
            **{key: tuple(agents.get(key, ())) for key in AGENT_GLOB_KEYS},
            owners=tuple(agents.get("owners", {}).items()),
        ),
        sha256=sha256,
        source=source,
    )
