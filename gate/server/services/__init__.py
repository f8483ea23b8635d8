"""The only layer that writes to the database. Routes and the CLI call these functions."""

from gate.errors import GateError


class ServiceError(GateError):
    """A request the service refuses, with a message fit to show the user."""

    status = 400


class NotFound(ServiceError):
    status = 404


class Forbidden(ServiceError):
    status = 403


class Conflict(ServiceError):
    status = 409


def comment_text(text: str) -> str:
    """A reviewer's comment as it is kept and signed: line ends as LF (a browser posts a
    textarea's with CRLF, and its script reads them with LF), no surrounding whitespace."""
    return text.replace("\r\n", "\n").strip()
