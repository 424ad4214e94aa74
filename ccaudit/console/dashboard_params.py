"""A dashboard page's query string, checked: the period, the comparison, the platform, the organisation.

Every parameter is optional (the default is the last 30 days against the 30 days before, every
platform, every organisation the reader may see). A parameter that is unknown, given twice or not
valid is refused with ``BadChoice`` naming it, and the page answers 400 saying which one and why;
nothing is guessed.

An organisation is offered, and accepted, only on a dashboard per organisation; a reader bound to
some organisations (``org_admin``, ``learning_manager``) may choose only among them. That is a
courtesy of the form: the bound itself is the query layer's, which applies it whatever is asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from ccaudit.store.tokens import InvalidPlatform, check_platform

PRESETS = {"7d": 7, "30d": 30, "90d": 90, "12m": 365}
DEFAULT_PRESET = "30d"
CUSTOM = "custom"
COMPARE = ("previous", "none")
# The longest custom period: two years, what the rollups keep at least.
MAX_DAYS = 731
NAMES = ("range", "start", "end", "compare", "platform", "organisation")
MAX_ORGANISATION = 256


class BadChoice(ValueError):
    """A parameter of a dashboard's address that is refused; ``reason`` is a catalogue key."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Choice:
    """What a dashboard page shows: days ``start`` to ``end`` inclusive (UTC), with or without the
    period before, on one platform or all (''), for one organisation or all the reader may see ('')."""

    preset: str
    start: date
    end: date
    compare: bool
    platform: str
    organisation: str

    def query(self) -> dict[str, str]:
        """The parameters that give this choice again (for links: CSV, the form's values)."""
        values = {"range": self.preset}
        if self.preset == CUSTOM:
            values.update(start=self.start.isoformat(), end=self.end.isoformat())
        if not self.compare:
            values["compare"] = "none"
        if self.platform:
            values["platform"] = self.platform
        if self.organisation:
            values["organisation"] = self.organisation
        return values


def _single(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in pairs:
        if name not in NAMES:
            raise BadChoice(name[:64], "bad_unknown")
        if name in found:
            raise BadChoice(name, "bad_twice")
        found[name] = value
    return found


def _day(name: str, value: str) -> date:
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise BadChoice(name, "bad_date") from None


def parse_choice(
    pairs: Sequence[tuple[str, str]], today: date, per_organisation: bool, organisations: frozenset[str] | None
) -> Choice:
    """The choice of a query string's ``pairs``; ``organisations`` are the reader's (None: any)."""
    given = _single(pairs)
    preset = given.get("range", "") or DEFAULT_PRESET
    if preset == CUSTOM:
        if not given.get("start"):
            raise BadChoice("start", "bad_missing")
        if not given.get("end"):
            raise BadChoice("end", "bad_missing")
        start, end = _day("start", given["start"]), _day("end", given["end"])
        if end > today:
            raise BadChoice("end", "bad_future")
        if start > end:
            raise BadChoice("start", "bad_order")
        if (end - start).days + 1 > MAX_DAYS:
            raise BadChoice("start", "bad_span")
    elif preset in PRESETS:
        for name in ("start", "end"):
            if given.get(name):
                raise BadChoice(name, "bad_not_custom")
        end = today
        start = end - timedelta(days=PRESETS[preset] - 1)
    else:
        raise BadChoice("range", "bad_range")
    compare = given.get("compare", "") or COMPARE[0]
    if compare not in COMPARE:
        raise BadChoice("compare", "bad_compare")
    platform = given.get("platform", "").strip()
    if platform:
        try:
            platform = check_platform(platform)
        except InvalidPlatform:
            raise BadChoice("platform", "bad_platform") from None
    organisation = given.get("organisation", "").strip()
    if organisation:
        if not per_organisation:
            raise BadChoice("organisation", "bad_not_per_organisation")
        if len(organisation) > MAX_ORGANISATION or (organisations is not None and organisation not in organisations):
            raise BadChoice("organisation", "bad_organisation")
    return Choice(preset, start, end, compare == "previous", platform, organisation)
