"""Ref updates as git hands them to pre-receive (one ``old new ref`` line each), and the one
matcher of protected-ref patterns.

Ref names are bytes to git; here they are decoded as UTF-8 with ``surrogateescape`` everywhere
(hook stdin, ``for-each-ref`` output, ``gate check`` arguments), so a pattern such as
``refs/heads/prod-ü`` names the same ref in every stage, and no byte is lost. Loaded on every
push: plain classes and string operations, nothing imported beyond Python's start-up.
"""

from gate.errors import GateError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

_HEX = frozenset(b"0123456789abcdef")


def is_zero(oid: str) -> bool:
    return not oid.strip("0")


class RefUpdate:
    """One ref update: ``old`` and ``new`` object ids (all zeros: absent) and the ref's name."""

    __slots__ = ("new", "old", "ref")
    old: str
    new: str
    ref: str

    def __init__(self, old: str, new: str, ref: str) -> None:
        object.__setattr__(self, "old", old)
        object.__setattr__(self, "new", new)
        object.__setattr__(self, "ref", ref)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"RefUpdate is immutable: cannot set {name}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RefUpdate):
            return NotImplemented
        return (self.old, self.new, self.ref) == (other.old, other.new, other.ref)

    def __hash__(self) -> int:
        return hash((self.old, self.new, self.ref))

    def __repr__(self) -> str:
        return f"RefUpdate(old={self.old!r}, new={self.new!r}, ref={self.ref!r})"

    @property
    def is_create(self) -> bool:
        return is_zero(self.old)

    @property
    def is_delete(self) -> bool:
        return is_zero(self.new)

    def __str__(self) -> str:
        return f"{self.ref} {self.old[:12]}..{self.new[:12]}"


def decode_ref(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def parse_ref_updates(data: bytes) -> list[RefUpdate]:
    """Parse pre-receive's standard input; a malformed line is an error, never skipped."""
    updates = []
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        parts = raw.split(b" ", 2)
        if len(parts) != 3 or not all(_is_hex(p) for p in parts[:2]):
            raise GateError(f"cannot parse ref update line {number}: {raw[:200]!r}")
        old, new, ref = (decode_ref(p) for p in parts)
        updates.append(RefUpdate(old, new, ref))
    return updates


def _is_hex(value: bytes) -> bool:
    return len(value) in (40, 64) and _HEX.issuperset(value)


def is_protected(ref: str, patterns: "Iterable[str]") -> bool:
    """Whether ``ref`` matches any protected-ref pattern."""
    return any(ref_matches(pattern, ref) for pattern in patterns)


def ref_matches(pattern: str, ref: str) -> bool:
    """A protected-ref pattern: '*' within one component, '**' one or more whole components
    (as the last component) or zero or more (elsewhere); everything else literal."""
    return _match_parts(pattern.split("/"), ref.split("/"))


def _match_parts(parts: list[str], names: list[str]) -> bool:
    if not parts:
        return not names
    head, rest = parts[0], parts[1:]
    if head == "**":
        if not rest:  # trailing '**': one or more non-empty components
            return bool(names) and all(names)
        return any(_match_parts(rest, names[i:]) for i in range(len(names) + 1) if all(names[:i]))
    return bool(names) and star_match(head, names[0]) and _match_parts(rest, names[1:])


def star_match(pattern: str, name: str) -> bool:
    """Whether the whole of ``name`` matches ``pattern``, whose only wildcard is '*' (any text,
    leftmost pieces first): a ref pattern's component, or a pusher glob (gate.git.prefilter)."""
    chunks = pattern.split("*")
    if len(chunks) == 1:
        return pattern == name
    first, last = chunks[0], chunks[-1]
    if len(name) < len(first) + len(last) or not name.startswith(first) or not name.endswith(last):
        return False
    pos, end = len(first), len(name) - len(last)
    for chunk in chunks[1:-1]:
        found = name.find(chunk, pos, end)
        if found < 0:
            return False
        pos = found + len(chunk)
    return True


# A symbolic ref under refs/ (``refs/heads/alias`` holding ``ref: refs/heads/main``) is updated
# by receive-pack through to the ref it names, while pre-receive is told the name pushed: an
# unprotected name would let a push land on a protected ref unchecked. git follows at most
# this many levels (refs/files-backend.c, SYMREF_MAXDEPTH).
SYMREF_MAXDEPTH = 5


def resolve(ref: str, symrefs: "dict[str, str]") -> str:
    """The ref that an update of ``ref`` changes: ``ref`` itself unless it is a symbolic ref."""
    for _ in range(SYMREF_MAXDEPTH):
        target = symrefs.get(ref)
        if target is None:
            return ref
        ref = target
    raise GateError(f"symbolic ref loop or chain too deep at {ref}")


def through_symbolic_refs(
    updates: "list[RefUpdate]", patterns: "Iterable[str]", symrefs: "dict[str, str]"
) -> "list[RefUpdate]":
    """Each update named by the protected ref it really changes, when it changes one.

    Both ways an update reaches a protected ref through a symbolic ref count: the pushed name
    is a symbolic ref to a protected ref (git writes the target), or a protected ref is a
    symbolic ref to the pushed name (its value moves with it). Other updates keep their names.
    """
    patterns = list(patterns)
    aliases: dict[str, str] = {}  # resolved ref -> a protected symbolic ref resolving to it
    for name in symrefs:
        if is_protected(name, patterns):
            aliases.setdefault(resolve(name, symrefs), name)
    result: list[RefUpdate] = []
    for update in updates:
        ref = update.ref
        if not is_protected(ref, patterns):
            target = resolve(ref, symrefs)
            if is_protected(target, patterns):
                ref = target
            elif target in aliases:
                ref = aliases[target]
        moved = update if ref == update.ref else RefUpdate(update.old, update.new, ref)
        if moved not in result:
            result.append(moved)
    return result
