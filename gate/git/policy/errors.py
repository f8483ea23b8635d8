"""The one error a policy file can raise, whatever its bytes."""

from __future__ import annotations

from gate.errors import GateError

Problem = tuple[int | None, str]


class PolicyError(GateError):
    """A policy file that cannot be used; ``problems`` holds (line or None, message) pairs."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        lines = [
            f"{source}:{line}: {msg}" if line else f"{source}: {msg}" for line, msg in problems
        ]
        super().__init__(lines[0] if lines else f"{source}: invalid policy", lines=lines)
