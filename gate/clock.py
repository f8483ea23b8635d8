"""Times as people type them, as the hooks send them, and as gate writes them: always UTC.

This module is the one parser and formatter of times and periods in gate:

- ``parse_moment``: what ``--until`` and the web forms accept: an ISO 8601 date or date-time, or
  a duration from now such as ``90m``, ``2h`` or ``3d``.
- ``parse_day`` / ``parse_period``: report and export boundaries (``--since``/``--until``): a
  date (the start of that day; as an end, the whole day is included) or a date-time.
- ``parse_rfc3339`` / ``parse_date``: the strict forms on the wire (no spaces, no newline, a
  real calendar date and time).
- ``parse_timestamp``: times gate itself wrote (audit records).
- ``week_start``: the Monday (UTC) that starts an ISO week.

A date-time without an offset is read as UTC everywhere (TIME_HELP says so in --help). Errors
are ``InputError`` (a ``ValueError`` and a ``GateError``) with a message fit to show the user.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from gate.errors import InputError

_DURATION = re.compile(r"^\s*(\d{1,6})\s*(m|min|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
FORMATS_HELP = "an ISO date or date-time such as 2026-12-01 or 2026-12-01T18:00Z, or a duration such as 90m, 2h, 3d"
DAY_HELP = "YYYY-MM-DD or an ISO date-time such as 2026-12-01T18:00Z"
TIME_HELP = "a time without an offset is UTC"


def utc_text(moment: datetime) -> str:
    """RFC 3339 UTC with a Z, to the second."""
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def week_start(moment: datetime) -> date:
    """The Monday (UTC) that starts the ISO week of ``moment``."""
    day = as_utc(moment).date()
    return day - timedelta(days=day.weekday())


def parse_rfc3339(text: str) -> datetime:
    """A wire time: exactly RFC 3339 (``2026-01-31T12:00:00Z``, offset required), in UTC."""
    if not isinstance(text, str) or not _RFC3339.fullmatch(text):
        raise InputError(f"not an RFC 3339 time like 2026-01-31T12:00:00Z: {_shown(text)}")
    try:
        return as_utc(datetime.fromisoformat(text.upper().replace("Z", "+00:00")))
    except ValueError:
        raise InputError(f"not a real date and time: {_shown(text)}") from None


def parse_date(text: str) -> date:
    """A wire date: exactly ``YYYY-MM-DD``, a real calendar day."""
    if not isinstance(text, str) or not _DATE.fullmatch(text):
        raise InputError(f"not a date like 2026-01-31: {_shown(text)}")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"not a real calendar day: {_shown(text)}") from None


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def parse_timestamp(text: str) -> datetime:
    """A timestamp gate wrote (audit record times, ``until``, dates); naive means UTC."""
    try:
        return as_utc(datetime.fromisoformat(str(text).strip().replace("Z", "+00:00")))
    except ValueError:
        raise InputError(f"not an ISO 8601 time: {_shown(text)}") from None


def parse_duration(text: str) -> timedelta | None:
    """``90m``, ``2h``, ``3d``, ``1w`` as a timedelta; None when ``text`` is not a duration."""
    match = _DURATION.match(text)
    if not match:
        return None
    return timedelta(**{_UNITS[match.group(2).lower()]: int(match.group(1))})


def parse_moment(text: str, now: datetime | None = None) -> datetime:
    """A point in time from user input; see the module docstring."""
    text = (text or "").strip()
    if not text:
        raise InputError(f"a time is required: {FORMATS_HELP}")
    if (duration := parse_duration(text)) is not None:
        return (now or datetime.now(UTC)) + duration
    try:
        return parse_timestamp(text)
    except InputError:
        raise InputError(f"cannot read {text!r} as a time: use {FORMATS_HELP}") from None


def parse_day(text: str, *, end: bool = False) -> datetime:
    """A report or export boundary: a date (the start of that day UTC; with ``end``, the start
    of the next day, so --until includes the day named) or a full date-time."""
    text = (text or "").strip()
    try:
        if _DATE.fullmatch(text):
            start = day_start(date.fromisoformat(text))
            return start + timedelta(days=1) if end else start
        return parse_timestamp(text)
    except ValueError:
        raise InputError(f"cannot read {text!r} as a date: use {DAY_HELP}") from None


def parse_period(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """--since (inclusive) and --until (a date: that whole day included) as UTC datetimes."""
    start = parse_day(since) if since else None
    end = parse_day(until, end=True) if until else None
    if start is not None and end is not None and end <= start:
        raise InputError(f"--until {until} is before --since {since}")
    return start, end


def _shown(value: object) -> str:
    return repr(value)[:80]
