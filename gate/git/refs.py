"""Ref updates as git hands them to pre-receive: one ``old new ref`` line each."""

from __future__ import annotations

from dataclasses import dataclass

from gate.errors import GateError


def is_zero(oid: str) -> bool:
    return not oid.strip("0")


@dataclass(frozen=True)
class RefUpdate:
    old: str
    new: str
    ref: str

    @property
    def is_create(self) -> bool:
        return is_zero(self.old)

    @property
    def is_delete(self) -> bool:
        return is_zero(self.new)

    def __str__(self) -> str:
        return f"{self.ref} {self.old[:12]}..{self.new[:12]}"


def parse_ref_updates(data: bytes) -> list[RefUpdate]:
    """Parse pre-receive's standard input; a malformed line is an error, never skipped."""
    updates = []
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        parts = raw.split(b" ", 2)
        if len(parts) != 3 or not all(_is_hex(p) for p in parts[:2]):
            raise GateError(f"cannot parse ref update line {number}: {raw[:200]!r}")
        old, new, ref = (p.decode("utf-8", errors="surrogateescape") for p in parts)
        updates.append(RefUpdate(old=old, new=new, ref=ref))
    return updates


def _is_hex(value: bytes) -> bool:
    return len(value) in (40, 64) and all(c in b"0123456789abcdef" for c in value)
