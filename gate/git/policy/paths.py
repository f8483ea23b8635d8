"""Gitignore-style guard patterns: validation, and matching in time linear in the path."""

from __future__ import annotations

from gate.git.policy.errors import PolicyError
from gate.git.prefilter import fold_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any, TypeAlias

    import pathspec


def _regex_error() -> type[Exception]:
    """``re.error``, for an except clause: evaluated only once something was raised, and only
    a bracket expression, which imports ``re`` to compile, raises it (no ``re`` otherwise)."""
    import re

    return re.error


def compile_path_patterns(
    patterns: Iterable[str], source: str = "<patterns>"
) -> pathspec.GitIgnoreSpec:
    """A pathspec ``GitIgnoreSpec`` for checked patterns; PolicyError if pathspec rejects one."""
    import re
    import warnings

    import pathspec  # lazy on purpose: see the module docstring

    patterns = list(patterns)

    try:
        with warnings.catch_warnings():
            # '[[]' (a literal '[') makes re warn about a "possible nested set".
            warnings.simplefilter("ignore", FutureWarning)
            return pathspec.GitIgnoreSpec.from_lines(patterns)
    except (ValueError, re.error) as exc:  # GitIgnorePatternError is a ValueError
        raise PolicyError(source, [(None, f"invalid path pattern: {exc}")]) from None


# (regex source, include) per pattern that is not a no-op, in policy order: pathspec's
# translation, from which the hook's fast path takes the literals a guarded path must contain.
GuardRules = tuple[tuple[str, bool], ...]


def guard_rules(patterns: Iterable[str], source: str = "<patterns>") -> GuardRules:
    """pathspec's own translation of checked gitignore patterns into regexes."""
    spec = compile_path_patterns(patterns, source)
    return tuple(
        (pattern.regex.pattern, bool(pattern.include))
        for pattern in spec.patterns
        if pattern.include is not None and pattern.regex is not None
    )


# --------------------------------------------------------------------------------------------
# Matching without backtracking
#
# A pattern is a sequence of segment globs and '**'; a segment glob is a sequence of one-character
# tokens and '*'. Both levels are the same problem: fixed-length chunks separated by stars. The
# first chunk is anchored at the start, the last at the end, and each chunk between is placed at
# its leftmost fit: any match can be moved there without losing the rest. So every element of
# the text is compared with each token a bounded number of times, whatever the pattern.

_ANY = None  # '?': any one character of a component
NO_MATCH, DIRECTORY_MATCH, FILE_MATCH = 0, 1, 2
if TYPE_CHECKING:
    Token: TypeAlias = "str | re.Pattern[str] | None"  # a literal character, a bracket, or _ANY
    # The text is a component (its characters) or a path (its components); a chunk is a run
    # of literal characters, or of tokens that each match one element.
    Text: TypeAlias = "str | Sequence[str]"
    Chunk: TypeAlias = "str | tuple[Any, ...]"
    Fits: TypeAlias = "Callable[[Any, str, Work], bool]"


class Work:
    """Counts element comparisons, so tests can assert that matching is linear."""

    __slots__ = ("steps",)

    def __init__(self) -> None:
        self.steps = 0


def _fit_at(chunk: Chunk, text: Text, index: int, fits: Fits, work: Work) -> bool:
    work.steps += len(chunk) or 1
    if isinstance(chunk, str):  # a run of literal characters
        return isinstance(text, str) and text.startswith(chunk, index)
    for offset, token in enumerate(chunk):  # noqa: SIM110 (no generator on the hot path)
        if not fits(token, text[index + offset], work):
            return False
    return True


def _first_fit(chunk: Chunk, text: Text, start: int, stop: int, fits: Fits, work: Work) -> int:
    if isinstance(chunk, str) and isinstance(text, str):
        work.steps += stop - start + 1
        return text.find(chunk, start, stop)
    for index in range(start, stop - len(chunk) + 1):
        if _fit_at(chunk, text, index, fits, work):
            return index
    return -1


def _stars_match(
    chunks: Sequence[Chunk],
    text: Text,
    start: int,
    stop: int,
    fits: Fits,
    work: Work,
    to_end: bool = True,
) -> bool:
    """Whether ``text[start:stop]`` is ``chunks`` joined by stars (``to_end`` False: a prefix of it)."""
    first, last = chunks[0], chunks[-1]
    if len(chunks) == 1:
        length = stop - start
        if length < len(first) or (to_end and length != len(first)):
            return False
        return _fit_at(first, text, start, fits, work)
    if stop - start < len(first) or not _fit_at(first, text, start, fits, work):
        return False
    start += len(first)
    middle = chunks[1:]
    if to_end:
        stop -= len(last)
        if stop < start or not _fit_at(last, text, stop, fits, work):
            return False
        middle = chunks[1:-1]
    for chunk in middle:
        found = _first_fit(chunk, text, start, stop, fits, work)
        if found < 0:
            return False
        start = found + len(chunk)
    return True


def _char_fits(token: Token, char: str, work: Work) -> bool:
    if token is _ANY:
        return True
    if isinstance(token, str):
        return token == char
    return token.match(char) is not None


class _SegmentGlob:
    """A glob over one path component: chunks of one-character tokens separated by '*'."""

    __slots__ = ("chunks", "literal", "nonempty")

    def __init__(self, chunks: list[str | tuple[Token, ...]], nonempty: bool) -> None:
        self.chunks = tuple(chunks)
        self.literal = chunks[0] if len(chunks) == 1 and isinstance(chunks[0], str) else None
        self.nonempty = nonempty

    def matches(self, component: str, work: Work) -> bool:
        if self.literal is not None:
            work.steps += 1
            return component == self.literal
        if self.nonempty and not component:
            return False
        return _stars_match(self.chunks, component, 0, len(component), _char_fits, work)


def _segment_glob(segment: str) -> _SegmentGlob:
    """pathspec's per-segment translation (``_translate_segment_glob``), as tokens.

    Raises ValueError for a trailing '\\', re.error for a bracket expression re refuses, and
    LookupError for an unclosed '[' (pathspec, like git, then ignores the whole pattern).
    """
    if segment == "*":  # a whole-segment '*' needs at least one character, as in pathspec
        return _SegmentGlob(["", ""], nonempty=True)
    chunks: list[str | tuple[Token, ...]] = []
    tokens: list[Token] = []

    def end_chunk() -> None:
        literal = all(isinstance(token, str) for token in tokens)
        chunks.append("".join(tokens) if literal else tuple(tokens))  # type: ignore[arg-type]
        tokens.clear()

    index, end = 0, len(segment)
    after_star = False
    while index < end:
        char = segment[index]
        index += 1
        if char == "\\":
            if index == end:
                raise ValueError("a '\\' with nothing after it to escape")
            tokens.append(segment[index])
            index += 1
        elif char == "*":
            if not after_star:
                end_chunk()
            after_star = True
            continue
        elif char == "?":
            tokens.append(_ANY)
        elif char == "[":
            close = bracket_end(segment, index)
            if close is None:
                raise LookupError("unclosed '['")
            negated = segment[index] in "!^"
            inner = segment[index + 1 if negated else index : close]
            expr = "[" + ("^" if negated else "") + inner.replace("\\", "\\\\")
            import re  # only for a bracket
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # '[[]' is a "possible nested set"
                tokens.append(re.compile(expr))
            index = close
        else:
            tokens.append(char)
        after_star = False
    end_chunk()
    return _SegmentGlob(chunks, nonempty=False)


_GLOBSTAR = "**"


class _PathGlob:
    """One gitignore pattern over the components of a path, normalised as pathspec does."""

    __slots__ = ("below", "chunks", "everything", "include", "is_dir", "required", "segments")

    def __init__(self, pattern: str) -> None:
        """Raises ValueError for patterns pathspec refuses, LookupError for those it ignores."""
        if not pattern.endswith("\\ "):
            pattern = pattern.rstrip()
        if not pattern or pattern.startswith("#") or pattern == "/":
            raise LookupError("a no-op pattern")
        self.include = not pattern.startswith("!")
        if not self.include:
            pattern = pattern[1:]
        segments = pattern.split("/")
        self.is_dir = not segments[-1]
        if not segments[0]:
            del segments[0]
        elif (len(segments) == 1 or (len(segments) == 2 and not segments[1])) and (
            segments[0] != _GLOBSTAR
        ):
            segments.insert(0, _GLOBSTAR)
        if not segments:
            raise ValueError("the pattern is empty once its '/' and '!' are removed")
        if not segments[-1]:
            segments[-1] = _GLOBSTAR
        collapsed = [segments[0]]
        for segment in segments[1:]:
            if not (segment == _GLOBSTAR and collapsed[-1] == _GLOBSTAR):
                collapsed.append(segment)
        # A trailing '**' matches what lies below the rest: one component or more.
        self.below = collapsed[-1] == _GLOBSTAR
        body = collapsed[:-1] if self.below else collapsed
        # Only '**' (and '**/'): everything, or everything below the top directory.
        self.everything = not body
        chunks: list[tuple[_SegmentGlob, ...]] = [()]
        segments_of: list[_SegmentGlob | None] = []  # None: '**'
        refused: Exception | None = None  # pathspec compiles last: a later unclosed '[' wins
        for segment in body:
            if segment == _GLOBSTAR:
                chunks.append(())
                segments_of.append(None)
                continue
            try:
                glob = _segment_glob(segment)
            except _regex_error() as exc:
                refused = refused or exc
                continue
            chunks[-1] += (glob,)
            segments_of.append(glob)
        if refused is not None:
            raise refused
        self.chunks = tuple(chunks)
        self.segments = (*segments_of, None) if self.below else tuple(segments_of)
        # Text any matching path contains: most paths are ruled out by 'in' alone.
        self.required = tuple(
            {
                piece
                for chunk in chunks
                for glob in chunk
                for piece in glob.chunks
                if isinstance(piece, str) and piece
            }
        )

    def reaches(self, components: list[str], work: Work, anywhere: bool = False) -> bool:
        """Whether some path strictly below the directory ``components`` could match only
        through it: the components fit a leading part of the pattern, at least one segment is
        left, and (unanchored, unless ``anywhere``) the fit took one of the components.

        The set of pattern positions the components can have reached is carried forward, one
        component at a time, so the work is the path's length times the pattern's.
        """
        segments = self.segments
        count = len(segments)

        def closure(states: set[int]) -> set[int]:
            for index in sorted(states):
                while index < count and segments[index] is None:
                    index += 1  # '**' may match no component
                    states.add(index)
            return states

        # After a leading '**' (an unanchored pattern), a link's target matches by itself
        # wherever the rest of the pattern fits below the link; only a fit that begins in the
        # link's own components needs the link, so the rest must have taken one of them.
        floor = 2 if segments[:1] == (None,) and not anywhere else 0
        states = closure({0})
        for component in components:
            following: set[int] = set()
            for index in states:
                if index >= count:
                    continue
                glob = segments[index]
                if glob is None:
                    following.add(index)  # '**' takes this component too
                elif glob.matches(component, work):
                    following.add(index + 1)
            if not following:
                return False
            states = closure(following)
        return any(floor <= index < count for index in states)

    def match(self, path: str, components: list[str], work: Work) -> int:
        """FILE_MATCH, DIRECTORY_MATCH (a directory above the path matched) or NO_MATCH."""
        for piece in self.required:
            if piece not in path:
                return NO_MATCH
        count = len(components)
        if self.everything:
            if self.is_dir:
                return DIRECTORY_MATCH if count > 1 else NO_MATCH
            return FILE_MATCH
        if self.below:
            if not _stars_match(
                self.chunks, components, 0, count - 1, _SegmentGlob.matches, work, False
            ):
                return NO_MATCH
            return DIRECTORY_MATCH if self.is_dir else FILE_MATCH
        if _stars_match(self.chunks, components, 0, count, _SegmentGlob.matches, work):
            return FILE_MATCH
        if count > 1 and _stars_match(
            self.chunks, components, 0, count - 1, _SegmentGlob.matches, work, False
        ):
            return DIRECTORY_MATCH
        return NO_MATCH


class GuardMatcher:
    """GitIgnoreSpec's decision over a guard's patterns, in time linear in the path.

    Patterns are tried last to first: a file match decides at once; a directory match (a
    directory above the path matched) decides unless an earlier pattern matches the file.
    Paths are normalised as pathspec does with ``separators=()``. Tests compare it with
    pathspec on generated patterns and paths; it parts from pathspec only where pathspec's
    regexes let '.' stop at a newline or a bracket expression match '/', where it does as git.
    """

    __slots__ = ("_globs", "_negates", "_reversed", "work")

    def __init__(self, patterns: Iterable[str], source: str = "<patterns>") -> None:
        globs = []
        for pattern in patterns:
            try:
                globs.append(_PathGlob(pattern))
            except LookupError:
                continue  # blank, a comment, or an unclosed '[': git ignores it
            except (ValueError, _regex_error()) as exc:
                raise PolicyError(
                    source, [(None, f"invalid path pattern {pattern!r}: {exc}")]
                ) from None
        self._globs = tuple(globs)
        self._negates = any(not glob.include for glob in globs)
        self._reversed = globs[::-1]
        self.work = Work()

    def matches(self, path: str) -> bool:
        if path.startswith("/"):
            path = path[1:]
        elif path.startswith("./"):
            path = path[2:]
        if not path:
            return False
        components = path.split("/")
        decided, best = False, NO_MATCH
        for glob in self._reversed:
            found = glob.match(path, components, self.work)
            if found > best:
                decided, best = glob.include, found
            if found == FILE_MATCH:
                break
        return decided

    def reaches(self, path: str) -> bool:
        """Whether a path below the directory ``path`` could be guarded through it: an
        including pattern reaches below it (``_PathGlob.reaches``) and no negation excludes
        everything below it (the last pattern to match a name there, such as ``!train/tmp/**``,
        un-guards). Linear in the path, like ``matches``."""
        path = path.strip("/")
        components = path.split("/") if path else []
        # A name no file can have (NUL): what decides it decides every name below the path
        # that no later pattern picks out by name.
        below = [*components, "\0"]
        below_path = "/".join(below)
        # An including pattern reaches below the path when the rest of it can fit there, or
        # when it takes the path or a directory above it whole (``/b`` reaches below ``b/b``
        # even where ``!b`` un-guards the name ``b/b`` itself). Where a negation can un-guard
        # a name in the link's target (``!vendor/**``), an unanchored pattern (``*.ckpt``)
        # guards that name below the link only through the link.
        if not any(
            glob.include
            and (
                glob.reaches(components, self.work, anywhere=self._negates)
                or glob.match(below_path, below, self.work) == DIRECTORY_MATCH
            )
            for glob in self._globs
        ):
            return False
        for glob in self._reversed:
            found = glob.match(below_path, below, self.work)
            if found == DIRECTORY_MATCH and not glob.include:
                # A negation that takes the names below only through their directory
                # (``!a/``) loses to a pattern naming a file there (``a/a``), as gitignore
                # ranks them: it cannot un-guard every name below.
                continue
            if found != NO_MATCH:
                return glob.include
        return True


def stand_in_tops(patterns: Iterable[str]) -> list[str] | None:
    """The top directories (as written and folded) a symbolic link or submodule must lie in
    for ``GuardMatcher.reaches`` to find guarded paths below it; None when it may lie anywhere.

    The hook's first stage keeps such links for the exact stage, and those whose own path
    has a guard's literals (an unanchored ``b`` reaches below ``b/x`` through ``b``). An
    unanchored pattern of one component (``*.ckpt``) never reaches below a link (the target's
    own names match it) unless a negation may un-guard those names there; an anchored one
    reaches only under its first component, when that is literal.
    """
    globs = []
    for pattern in patterns:
        try:
            globs.append(_PathGlob(pattern))
        except (LookupError, ValueError, _regex_error()):
            continue
    negates = any(not glob.include for glob in globs)
    tops: set[str] = set()
    for glob in globs:
        if not glob.include:
            continue
        if glob.everything and glob.is_dir:
            return None  # '**/' takes every directory, a link's path too
        first = glob.segments[0] if glob.segments else None
        if glob.segments[:1] == (None,):
            if len(glob.segments) > 2 or negates:
                return None
            continue
        if first is None or first.literal is None:
            return None
        tops.update((first.literal, fold_path(first.literal)))
    return sorted(tops)


def folded_patterns(patterns: Iterable[str]) -> list[str]:
    """The patterns as ``fold_path`` folds names, for matching folded names; a pattern whose
    folded form is no longer valid (a range such as ``[Z-a]``) is left out."""
    folded = []
    for pattern in patterns:
        candidate = fold_path(pattern)
        if check_path_pattern(candidate) is None:
            folded.append(candidate)
    return folded


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
            close = bracket_end(segment, index)
            if close is None:
                return "has an unclosed '[' (git ignores such a pattern)"
            reason = _check_bracket(segment[index : close - 1])
            if reason:
                return reason
            index = close
    return None


def bracket_end(segment: str, start: int) -> int | None:
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
    import re
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            re.compile(expr)
    except re.error as exc:
        return f"has an invalid bracket expression '[{inner}]' ({exc.msg})"
    return None
