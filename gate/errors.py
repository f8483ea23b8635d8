"""The one exception family whose messages are shown to people (pushers, admins, reviewers).

Messages never start with "gate:": the edges that print them (the hook's output, the CLI) add
that prefix, once. The audit verifier keeps its own VerifyError (it runs standalone on an
auditor's machine); the CLI maps it at its edge.
"""

PREFIX = "gate: "


class GateError(Exception):
    """An error with a message fit to show as-is: no traceback, says what to do."""

    # What to do, where it is not what the edge that shows the error would say by default
    # (the hook: "try again later" when the server cannot be asked).
    advice: tuple[str, ...] = ()

    def __init__(self, message: str, *, lines: list[str] | None = None) -> None:
        super().__init__(message)
        self.lines = lines or [message]

    def __str__(self) -> str:
        return "\n".join(self.lines)


class InputError(GateError, ValueError):
    """Input a person typed (an option, a form field, a file) that gate cannot read."""


def prefixed(line: str) -> str:
    """A line as an edge prints it: with the "gate: " prefix exactly once."""
    return line if line.startswith(PREFIX.rstrip()) else PREFIX + line
