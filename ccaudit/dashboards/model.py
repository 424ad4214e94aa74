"""What a dashboard is: panels over the rollups, their columns, the range they are read for, and the
tables they answer, with small cells suppressed.

A panel's ``sql`` is written once, for both renderers: ClickHouse SQL over the rollup tables with the
Grafana ClickHouse data source's macros (``$__dateFilter(col)``, ``$__timeFilter(col)``,
``$__fromTime``, ``$__toTime``) and the dashboards' variables (``${db}``, ``${platform:singlequote}``,
``${organisation:singlequote}``, the empty string meaning every one). Grafana expands them itself;
``ccaudit.dashboards.query`` expands them into bound parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Final, Literal

from ccaudit.access.roles import Permission, Role

Kind = Literal["dimension", "day", "count", "visitors", "ratio"]
Chart = Literal["stat", "line", "bar", "table"]
Scope = Literal["usage", "organisation"]
LANGUAGES: Final = ("nl", "fr", "en")


@dataclass(frozen=True, slots=True)
class Column:
    """A column of a panel's answer, in the order the SQL selects it.

    ``kind``: ``dimension`` (a label: page, browser, action), ``day`` (a UTC day), ``count`` (events:
    page views, operations), ``visitors`` (people: visitors as a sum of daily uniques, learners,
    consenting visitors' receipts; the figure small-cell suppression looks at), ``ratio`` (a share
    or a rate, derived from counts).
    """

    key: str
    title: Mapping[str, str]
    kind: Kind


@dataclass(frozen=True, slots=True)
class Panel:
    key: str
    title: Mapping[str, str]
    chart: Chart
    sql: str
    columns: tuple[Column, ...]


@dataclass(frozen=True, slots=True)
class Dashboard:
    key: str
    title: Mapping[str, str]
    scope: Scope
    roles: frozenset[Role]
    panels: tuple[Panel, ...]
    # What a principal must hold besides a role in ``roles`` (a personal token's scopes narrow it).
    permission: Permission = Permission.USAGE_READ
    # A live dashboard reads the last ``window_minutes`` up to now instead of a range of days.
    window_minutes: int | None = None

    def panel(self, key: str) -> Panel:
        """The panel named ``key``; KeyError if this dashboard has none."""
        for panel in self.panels:
            if panel.key == key:
                return panel
        raise KeyError(key)


@dataclass(frozen=True, slots=True)
class Range:
    """Inclusive UTC days, and the filters a reader chose (None: every platform / organisation)."""

    start: date
    end: date
    platform: str | None = None
    organisation: str | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("a range ends on or after the day it starts")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Range:
        """The period of the same length that ends the day before this one starts."""
        end = self.start - timedelta(days=1)
        return Range(end - timedelta(days=self.days - 1), end, self.platform, self.organisation)


class Suppressed:
    """A figure counting fewer than k people: shown as "<k", never as its value."""

    _instance: Suppressed | None = None
    __slots__ = ()

    def __new__(cls) -> Suppressed:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "SUPPRESSED"

    def __reduce__(self) -> str:
        return "SUPPRESSED"


SUPPRESSED: Final = Suppressed()

Cell = int | float | str | date | None | Suppressed


@dataclass(frozen=True, slots=True)
class Table:
    """A panel's answer. ``k``: the suppression threshold its cells were held to (a suppressed cell
    reads "<k"); ``rows_suppressed``: how many rows had cells suppressed."""

    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]
    k: int = 5
    rows_suppressed: int = field(default=0)

    def text(self, cell: Cell) -> str | int | float | None:
        """A cell as JSON and CSV show it: a day in ISO form, a suppressed figure as "<k"."""
        if isinstance(cell, Suppressed):
            return f"<{self.k}"
        if isinstance(cell, date):
            return cell.isoformat()
        return cell

    def as_json(self) -> dict[str, object]:
        return {
            "columns": [{"key": c.key, "title": dict(c.title), "kind": c.kind} for c in self.columns],
            "rows": [[self.text(cell) for cell in row] for row in self.rows],
            "k": self.k,
            "rows_suppressed": self.rows_suppressed,
        }
