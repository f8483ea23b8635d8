"""The class every table derives from, and how stored JSON is read back."""

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from gate.server.extensions import Base, db

# Flask-SQLAlchemy builds db.Model at run time from Base (same registry and metadata), so a type
# checker cannot see it as a class; Base is the declarative base it is made from.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model


def max_length(column: Any) -> int:
    """The most characters a String column holds (``User.username``, say): forms and services
    bound their input by the column itself, so the limit is written once, in the model."""
    length = column.property.columns[0].type.length
    assert isinstance(length, int), column
    return length


def utcnow() -> datetime:
    return datetime.now(UTC)


def read_stored_json(text: str | bytes) -> Any:
    """A JSON column's value as stored, or None when it cannot be read back: a row written
    before gate.wire bounded nesting may be too deep for the decoder, and one unreadable row
    must not make every page that loads it fail. Readers treat None as "nothing stored"."""
    try:
        return json.loads(text)
    except (RecursionError, ValueError):
        return None


__all__ = ["Model", "max_length", "read_stored_json", "utcnow"]
