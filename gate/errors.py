"""The one exception family whose messages are shown to people (pushers, admins, reviewers)."""


class GateError(Exception):
    """An error with a message fit to show as-is: no traceback, says what to do."""

    def __init__(self, message: str, *, lines: list[str] | None = None) -> None:
        super().__init__(message)
        self.lines = lines or [message]

    def __str__(self) -> str:
        return "\n".join(self.lines)
