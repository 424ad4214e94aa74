"""The suite holds on any date: no test may hold a calendar date near today unless it says why.

A date literal within three years of today is the kind that breaks a test on a later day: a TTL on
the engine's real clock removes the row, or a window of accepted times closes. Dates are made
relative to today instead (``tests.conftest.days_ago_ms``, the engine's ``now()``). Where a date
cannot matter (a parser fed a fixed input, no clock and no TTL reading it), a comment containing
``fixed date:`` on the same line or the line above, or ``fixed dates:`` anywhere in the file for
the whole file, says why.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

TESTS = Path(__file__).resolve().parent
HORIZON = timedelta(days=3 * 366)

_ISO = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_CALL = re.compile(r"\b(?:date|datetime)\(\s*(\d{4})\s*,\s*(\d{1,2})\s*,\s*(\d{1,2})")
# Epoch seconds (10 digits), milliseconds (13) and TCF's deciseconds (11), underscores allowed.
_EPOCH = re.compile(r"(?<![\w.])(1[\d_]{9,17})(?![\w.])")


def _dates(line: str) -> list[date]:
    found: list[date] = []
    for match in [*_ISO.finditer(line), *_CALL.finditer(line)]:
        try:
            found.append(date(int(match[1]), int(match[2]), int(match[3])))
        except ValueError:
            continue
    for match in _EPOCH.finditer(line):
        digits = match[1].replace("_", "")
        scale = {10: 1, 11: 10, 13: 1000}.get(len(digits))
        if scale is not None:
            found.append(datetime.fromtimestamp(int(digits) / scale, UTC).date())
    return found


def near_today(text: str, today: date) -> list[tuple[int, str]]:
    """Lines of ``text`` holding a date within three years of ``today`` and no ``fixed date:`` note."""
    if "fixed dates:" in text:
        return []
    lines = text.splitlines()
    return [
        (number, line.strip())
        for number, line in enumerate(lines, 1)
        if "fixed date:" not in line + (lines[number - 2] if number > 1 else "")
        and any(abs(d - today) <= HORIZON for d in _dates(line))
    ]


def test_no_test_holds_a_calendar_date_near_today() -> None:
    today = datetime.now(UTC).date()
    offenders = [
        f"{path.relative_to(TESTS.parent)}:{number}: {line}"
        for path in sorted(TESTS.rglob("*.py"))
        for number, line in near_today(path.read_text(), today)
    ]
    assert not offenders, "dates near today (make them relative, or say why they cannot matter):\n" + "\n".join(
        offenders
    )


def test_the_scan_finds_each_spelling_of_a_date() -> None:
    # fixed dates: the scanner's own inputs, read by no clock.
    today = date(2026, 12, 1)  # fixed date: the scanner's own input, read by no clock
    assert near_today('T0 = "2025-11-29T09:53:21Z"', today)  # fixed date: the scanner's own input
    assert near_today("when = datetime(2026, 11, 29, 9, 53)", today)  # fixed date: the scanner's own input
    assert near_today("T0 = 1_764_410_000_000", today)  # fixed date: scanner input, epoch milliseconds
    assert near_today("created_ds = 17_644_100_000", today)  # fixed date: scanner input, TCF deciseconds
    assert near_today("stamp = 1764410000", today)  # fixed date: scanner input, epoch seconds
    assert not near_today('T0 = "2025-11-29"  # fixed date: parsed only', today)
    assert not near_today('old = "2019-06-01"', today)
    assert not near_today("limit = 1_000_000_000_000", today + timedelta(days=4000))  # fixed date: scanner input
