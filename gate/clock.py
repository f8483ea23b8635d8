"""Times as people type them, and as gate writes them: always UTC, never naive.

``parse_moment`` takes what ``--until`` and the web forms accept: an ISO 8601 date or date-time
(a missing offset means UTC), or a duration from now such as ``90m``, ``2h`` or ``3d``. Errors
are ``ValueError`` with a message fit to show the user.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

_DURATION = re.compile(r"^\s*(\d{1,6})\s*(m|min|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}
FORMATS_HELP = "an ISO date or date-time such as 2026-12-01 or 2026-12-01T18:00Z, or a duration such as 90m, 2h, 3d"


def utc_text(moment: datetime) -> str:
    """RFC 3339 UTC with a Z, to the second."""
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_timestamp(text: str) -> datetime:
    """A timestamp gate wrote (audit record times, ``until``); naive means UTC."""
    return as_utc(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))


def parse_moment(text: str, now: datetime | None = None) -> datetime:
    """A point in time from user input; see the module docstring."""
    text = (text or "").strip()
    if not text:
        raise ValueError(f"a time is required: {FORMATS_HELP}")
    if match := _DURATION.match(text):
        unit = _UNITS[match.group(2).lower()]
        return (now or datetime.now(UTC)) + timedelta(**{unit: int(match.group(1))})
    try:
        return parse_timestamp(text)
    except ValueError:
        raise ValueError(f"cannot read {text!r} as a time: use {FORMATS_HELP}") from None


def parse_day(text: str, *, end: bool = False) -> datetime:
    """A report boundary: a date (start of that day UTC; with ``end``, the start of the next
    day, so --until includes the day named) or a full date-time."""
    text = (text or "").strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        return parse_timestamp(text)
    except ValueError:
        raise ValueError(
            f"cannot read {text!r} as a date: use YYYY-MM-DD or an ISO date-time such as 2026-12-01T18:00Z"
        ) from None
