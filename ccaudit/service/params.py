"""The read API's query parameters: integers in ASCII digits, times and days inside one window.

Every parser raises :class:`BadParameter` naming the parameter and what it accepts; a route answers
400 with that text. Nothing a client sends reaches the engine unless it is a value the engine can hold,
so the engine's own errors (and their text) never come back from a read.

**The window.** Times (``since``, ``until``) and days are accepted from 1970-01-01T00:00:00Z up to
2100-01-01T00:00:00Z (days: 1970-01-01 to 2099-12-31). The engine's types are wider (DateTime64(3):
1900 to 2299; Date: 1970 to 2149-06-06, beyond which it saturates silently), so every bound value in
the window, and the day after the last day, is exact in each of them. Ingest keeps event times near
the present, so the window excludes nothing that can be stored through it. A cursor is different: it
was made from a stored row, so it is held to what the engine can store (:data:`ENGINE_EARLIEST` up to
:data:`ENGINE_END`), not to the window, and a page after an old or odd row can still be read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2099, 12, 31)
# ClickHouse DateTime64(3)'s range, the end exclusive: what a stored row's time (and so a cursor's)
# can be. Exclusive because a cursor's milliseconds pass through a float: 23:59:59.999 comes back
# as 23:59:59.999001.
ENGINE_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
ENGINE_END = datetime(2300, 1, 1, tzinfo=UTC)

TIME_WINDOW = "from 1970-01-01T00:00:00Z to 2100-01-01T00:00:00Z"
DAY_WINDOW = "from 1970-01-01 to 2099-12-31"

# str.isdigit() and int() accept other scripts' digits ('²', '٤'); a parameter takes ASCII only. Nine
# digits bound the work before the range check (int() of a 5,000-digit text raises, too).
_ASCII_INTEGER = re.compile(r"[0-9]{1,9}")
# Longer than any ISO 8601 time with microseconds and an offset: refused before it is parsed.
_MAX_TIME_TEXT = 40


class BadParameter(ValueError):
    """A query parameter the route cannot take; the message starts with the parameter's name."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


def refuse_unknown(params: Mapping[str, str], known: Iterable[str]) -> None:
    """BadParameter naming the first parameter not in ``known`` (a misspelt filter must not widen a read)."""
    known = set(known)
    unknown = sorted(set(params) - known)
    if unknown:
        raise BadParameter(unknown[0], f"unknown parameter (known: {', '.join(sorted(known))})")


def integer(name: str, value: str, lowest: int, highest: int) -> int:
    """``value`` as an integer from ``lowest`` to ``highest``, written in ASCII digits only."""
    if not _ASCII_INTEGER.fullmatch(value) or not lowest <= int(value) <= highest:
        raise BadParameter(name, f"an integer from {lowest} to {highest} in digits 0-9")
    return int(value)


def iso_time(name: str, value: str | None) -> datetime | None:
    """An ISO 8601 time inside the window, in UTC (a time without an offset is UTC); None if absent."""
    if value is None:
        return None
    expected = f"an ISO 8601 time {TIME_WINDOW}, e.g. 2026-11-29T10:00:00Z"
    if len(value) > _MAX_TIME_TEXT or not value.isascii():
        raise BadParameter(name, expected)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        # The offset is applied before the window is checked: year 1 at +01:00 is in year 0, which
        # Python cannot represent (OverflowError), and 2099-12-31T23:00-05:00 is past the window.
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise BadParameter(name, expected) from None
    if not EARLIEST <= parsed <= LATEST:
        raise BadParameter(name, expected)
    return parsed


def iso_day(name: str, value: str | None, default: date) -> date:
    """An ISO 8601 calendar day inside the window; ``default`` if absent."""
    if value is None:
        return default
    expected = f"a date {DAY_WINDOW}, e.g. 2026-11-29"
    if len(value) > _MAX_TIME_TEXT or not value.isascii():
        raise BadParameter(name, expected)
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise BadParameter(name, expected) from None
    if not FIRST_DAY <= parsed <= LAST_DAY:
        raise BadParameter(name, expected)
    return parsed


def text(name: str, value: str | None, longest: int) -> str | None:
    """A free-text filter of at most ``longest`` characters (it is bound, never part of the SQL)."""
    if value is not None and len(value) > longest:
        raise BadParameter(name, f"longer than {longest} characters")
    return value
