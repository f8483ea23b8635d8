"""Required literals of a regular expression: text that every match must contain.

The classifier's first stage (``gate.git.prefilter``) cannot afford to import ``re`` and compile
the catalog and the policy on a push that holds nothing. Instead, when the settings are
compiled, every
pattern that marks a commit as an agent's, or a path as guarded, is reduced here to clauses of
plain strings: any text the pattern matches contains, for every clause, at least one of its
strings. A text that fails a clause cannot match, which ``str.__contains__`` decides without
``re``. Each rule also names its most selective clause, the trigger, checked first.

The reduction reads the expression with the standard library's own parser (``re._parser``);
anything it does not know answers None ("no usable literal"), which turns the first stage's
prefilter off for that pattern set instead of guessing. Tests check the property on the
built-in catalog, on random globs and on the guards' pathspec translations.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from typing import Any

try:
    from re import _constants as _c  # type: ignore[attr-defined]  # private: typeshed omits it
    from re import _parser  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - a Python without the 3.11 layout: no prefilter
    _parser = None

# What separates the pieces of the text the hook builds from a commit (a trailer written as
# "Key: value" with continuation lines joined, "Name <email>"): a literal is cut at these so
# each piece is a substring of the raw commit object itself.
_SEPARATORS = re.compile(r"[\s:<>]+")

Clause = frozenset[str]
# (trigger, clauses): the text may match only if it contains a string of every clause.
Rule = tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]


def requirements(source: str, flags: int = 0) -> list[Clause]:
    """Clauses every match of ``source`` satisfies; empty when nothing is known.

    With ``re.IGNORECASE`` the strings are lower-case and only ASCII (compare them with
    ``fold(text)`` from gate.git.prefilter); otherwise they are exact.
    """
    if _parser is None:
        return []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "[[]" is a "possible nested set"
            parsed = _parser.parse(source, flags)
    except (re.error, TypeError, ValueError, RecursionError):
        return []
    fold = bool(flags & re.IGNORECASE)
    return _sequence(list(parsed), fold, bool(parsed.state.flags & re.IGNORECASE))


def commit_rules(sources: Iterable[str]) -> list[Rule] | None:
    """Rules for case-insensitive patterns over commit text, None if one has no literal.

    The text each pattern is matched against (a person's name or email, a trailer written as
    "Key: value" with continuation lines joined, "Name <email>", the message) is built from
    pieces of the raw commit object joined by separators, so strings are cut at separators:
    every piece of a string, and not the string, is a substring of the raw object.
    """
    rules = []
    for source in sources:
        clauses: list[Clause] = []
        for clause in requirements(source, re.IGNORECASE | re.MULTILINE):
            if len(clause) == 1:
                clauses += [frozenset([piece]) for piece in _pieces(next(iter(clause))) if piece]
            else:
                longest = {max(_pieces(text), key=len) for text in clause}
                if "" not in longest:
                    clauses.append(frozenset(longest))
        rule = _rule(clauses)
        if rule is None:
            return None
        rules.append(rule)
    return rules


def path_rules(sources: Iterable[str]) -> list[Rule] | None:
    """Rules for case-sensitive patterns over whole paths, None if one has no literal."""
    rules = []
    for source in sources:
        rule = _rule(requirements(source))
        if rule is None:
            return None
        rules.append(rule)
    return rules


# A hub: a string every trigger string of several rules contains, searched once for all of them.
# Shorter ones ("@", ".com") are in nearly every commit and would rule nothing out.
HUB_MIN, HUB_MAX = 6, 24
# [(hub, rules)]; the rules no hub serves come last, under "", which every text contains.
Groups = list[tuple[str, list[Rule]]]


def group_rules(rules: list[Rule]) -> Groups:
    """The rules grouped under hubs, so that a text none of a group's hub is in is ruled out
    for the whole group in one search (gate.git.prefilter, ``live_rules``).

    Greedy: the hub shared by the most rules (then the longest) first, until no string is
    shared by two; each rule lies in one group. A member's every trigger string contains its
    hub, so a text without the hub holds no trigger string of it: never a rule lost.
    """
    pending = list(range(len(rules)))
    groups: Groups = []
    while True:
        shared: dict[str, list[int]] = {}
        for index in pending:
            common: set[str] | None = None
            for piece in rules[index][0]:
                subs = {
                    piece[start:end]
                    for start in range(len(piece))
                    for end in range(start + HUB_MIN, min(len(piece), start + HUB_MAX) + 1)
                }
                common = subs if common is None else common & subs
            for sub in common or ():
                shared.setdefault(sub, []).append(index)
        best = max(
            ((len(members), len(hub), hub) for hub, members in shared.items() if len(members) > 1),
            default=None,
        )
        if best is None:
            break
        members = shared[best[2]]
        groups.append((best[2], [rules[index] for index in members]))
        pending = [index for index in pending if index not in members]
    groups.append(("", [rules[index] for index in pending]))
    return groups


def _pieces(text: str) -> list[str]:
    return _SEPARATORS.split(text)


def _rule(clauses: list[Clause]) -> Rule | None:
    trigger = _best(clauses)
    if trigger is None:
        return None
    ordered = tuple(tuple(sorted(c)) for c in sorted(set(clauses), key=sorted) if c != trigger)
    return tuple(sorted(trigger)), ordered


def _best(clauses: list[Clause]) -> Clause | None:
    """The most selective clause: the one whose shortest string is longest, then fewest."""
    usable = [c for c in clauses if c and "" not in c]
    if not usable:
        return None
    return max(usable, key=lambda c: (min(len(s) for s in c), -len(c), sorted(c)))


def _sequence(items: list[tuple[object, object]], fold: bool, ignorecase: bool) -> list[Clause]:
    """``fold``: the text will be compared lower-cased; ``ignorecase``: this part matches so.

    Every element of a sequence must match, so the clauses of all of them hold together.
    """
    clauses: list[Clause] = []
    run: list[str] = []

    def end_run() -> None:
        if run:
            clauses.append(frozenset(["".join(run)]))
            run.clear()

    for op, av in items:
        char = _literal_char(op, av)
        if char is not None and (char.isascii() if fold else not ignorecase):
            # Folded: lower-casing both sides keeps exact matches, and fold() maps every
            # character IGNORECASE equates with an ASCII one onto it. Unfolded: exact only.
            run.append(char.lower() if fold else char)
            continue
        end_run()
        clauses += _node(op, av, fold, ignorecase)
    end_run()
    return clauses


def _literal_char(op: object, av: object) -> str | None:
    if op is _c.LITERAL:
        return chr(av)  # type: ignore[arg-type]
    if op is _c.IN and isinstance(av, list) and len(av) == 1 and av[0][0] is _c.LITERAL:
        return chr(av[0][1])  # a one-character class such as fnmatch's "[[]"
    return None


def _node(op: object, av: Any, fold: bool, ignorecase: bool) -> list[Clause]:
    """Clauses of one non-literal node; empty when it needs no particular text."""
    if op is _c.SUBPATTERN:
        _, add_flags, del_flags, sub = av
        if add_flags & re.IGNORECASE:
            ignorecase = True
        if del_flags & re.IGNORECASE:
            ignorecase = False
        return _sequence(list(sub), fold, ignorecase)
    if op is _c.ATOMIC_GROUP:
        return _sequence(list(av), fold, ignorecase)
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)):
        low, _, sub = av
        return _sequence(list(sub), fold, ignorecase) if low >= 1 else []
    if op is _c.BRANCH:
        _, branches = av
        union: set[str] = set()
        for branch in branches:
            best = _best(_sequence(list(branch), fold, ignorecase))
            if best is None:
                return []
            union |= best
        return [frozenset(union)]
    return []  # ANY, IN, NOT_LITERAL, AT, ASSERT, GROUPREF, ...: no required text
