"""The console's dashboards: the list of those a reader may open, each dashboard's page, and the CSV
of each of its tables.

A thin view over the query layer (``ccaudit.dashboards.query``), which the API and the Grafana
generator's test call too: it holds every panel to the reader's platforms and organisations and
suppresses small cells ("<k"), so the page, its CSV and the API show the same figures. The page
reads each table once for the chosen period and once for the period before (when compared), draws
the charts from them (``charts.py``, inline SVG) and shows every table under its chart: the CSV of
a table is that table, cell for cell, as the page prints it (``cell_text``).

What is drawn: a ``stat`` panel as tiles with the change against the previous period; a ``line``
panel as its first figure per day, the previous period as a second, dashed series; a ``bar`` panel,
and a ``table`` panel that is a top list (a label, then figures), as bars of its first event count
(else its first figure). A
live dashboard ("now", its last minutes) has no period to choose and refreshes itself every minute
(a meta refresh: the console runs no script).

Dashboards show aggregates only, no account id, IP or visitor hash: reading them is not a read of
personal data, and is not recorded in the access stream.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ccaudit.console import charts, i18n
from ccaudit.console.dashboard_params import COMPARE, CUSTOM, PRESETS, BadChoice, Choice, parse_choice
from ccaudit.console.pages import CSP, Pages, Visitor, language, secure
from ccaudit.dashboards.model import Cell, Column, Dashboard, Panel, Range, Suppressed, Table
from ccaudit.dashboards.query import NotVisible, dashboard_tables, panel_table
from ccaudit.dashboards.registry import DASHBOARDS, may_see, visible
from ccaudit.settings import Settings
from ccaudit.store import Store

MEASURES = ("count", "visitors", "ratio")
TOP = 10  # bars of a top list; its table shows every row
REFRESH_SECONDS = 60
_FORMULA = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would read these as a formula


def _today() -> date:
    return datetime.now(UTC).date()


def cell_text(table: Table, cell: Cell, kind: str) -> str:
    """A cell as the page and the CSV print it: a suppressed figure "<k", a day in ISO form, a ratio
    with two decimals, nothing for a missing value."""
    if isinstance(cell, (Suppressed, date)):
        return str(table.text(cell))
    if cell is None:
        return ""
    if kind == "ratio" and isinstance(cell, (int, float)):
        return f"{cell:.2f}"
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)


def _figure(cell: Cell) -> float | None:
    """A cell as a chart's value; None (a gap, "<k") for a suppressed or missing one."""
    if isinstance(cell, bool) or not isinstance(cell, (int, float)):
        return None
    return float(cell)


def _title(titles: Mapping[str, str], lang: str) -> str:
    return titles.get(lang) or titles.get("en") or next(iter(titles.values()), "")


@dataclass(frozen=True, slots=True)
class Tile:
    title: str
    text: str
    previous: str | None
    trend: charts.Trend


@dataclass(frozen=True, slots=True)
class PanelView:
    """One panel as the template shows it: its chart (or tiles) and its table as text."""

    key: str
    title: str
    kind: str  # "tiles", "line", "bars" or "table"
    tiles: tuple[Tile, ...]
    chart: charts.LineChart | charts.BarChart | None
    series: tuple[str, str]
    headers: tuple[tuple[str, bool], ...]  # (title, is a figure)
    rows: tuple[tuple[str, ...], ...]
    csv: str


def _measure(columns: Sequence[Column]) -> int | None:
    return next((i for i, c in enumerate(columns) if c.kind in MEASURES), None)


def _line(
    table: Table, previous: Table | None, choice: Choice, lang: str, words: Mapping[str, str]
) -> charts.LineChart | None:
    """The first figure per day of the chosen period, with the period before aligned day by day."""
    at = _measure(table.columns)
    day_col = next((i for i, c in enumerate(table.columns) if c.kind == "day"), None)
    if at is None or day_col is None:
        return None
    span = (choice.end - choice.start).days + 1
    days = [choice.start + timedelta(days=n) for n in range(span)]

    def by_offset(t: Table, first: date) -> dict[int, float | None]:
        found: dict[int, float | None] = {}
        for row in t.rows:
            day = row[day_col]
            if isinstance(day, str):
                try:
                    day = date.fromisoformat(day[:10])
                except ValueError:
                    continue
            if isinstance(day, date):
                found[(day - first).days] = _figure(row[at])
        return found

    # A day without a row had no event: zero, not a gap (a gap is a suppressed figure).
    now = by_offset(table, choice.start)
    current = [now.get(n, 0.0) for n in range(span)]
    before: list[float | None] | None = None
    if previous is not None:
        then = by_offset(previous, choice.start - timedelta(days=span))
        before = [then.get(n, 0.0) for n in range(span)]
    name = _title(table.columns[at].title, lang)
    names = (f"{name}: {words['dash_this_period']}", f"{name}: {words['dash_previous_period']}")
    return charts.line_chart([d.isoformat() for d in days], current, before, names)


def _bars(table: Table) -> charts.BarChart | None:
    # Top lists are ordered by an event count (page views, operations): the bars follow the same one.
    counts = [i for i, c in enumerate(table.columns) if c.kind == "count"]
    at = counts[0] if counts else _measure(table.columns)
    if at is None or table.columns[0].kind != "dimension" or not table.rows:
        return None
    labels = [
        " · ".join(cell_text(table, row[i], "dimension") for i, c in enumerate(table.columns) if c.kind == "dimension")
        for row in table.rows[:TOP]
    ]
    return charts.bar_chart(
        [(label, _figure(row[at])) for label, row in zip(labels, table.rows[:TOP], strict=True)],
        suppressed=f"<{table.k}",
    )


def _tiles(table: Table, previous: Table | None, lang: str) -> tuple[Tile, ...]:
    if not table.rows:
        return ()
    row = table.rows[0]
    before = previous.rows[0] if previous is not None and previous.rows else None
    tiles = []
    for i, column in enumerate(table.columns):
        if column.kind not in MEASURES:
            continue
        then = before[i] if before is not None else None
        tiles.append(Tile(
            _title(column.title, lang), cell_text(table, row[i], column.kind),
            cell_text(table, then, column.kind) if before is not None else None,
            charts.trend(_figure(row[i]), _figure(then)) if before is not None else charts.Trend("", ""),
        ))  # fmt: skip
    return tuple(tiles)


def panel_view(
    panel: Panel, table: Table, previous: Table | None, choice: Choice, lang: str, words: Mapping[str, str],
    csv_link: str,
) -> PanelView:  # fmt: skip
    """What the template needs of one panel; ``previous`` is its table for the period before, if compared."""
    headers = tuple((_title(c.title, lang), c.kind in MEASURES) for c in table.columns)
    rows = tuple(tuple(cell_text(table, cell, c.kind) for cell, c in zip(row, table.columns, strict=True))
                 for row in table.rows)  # fmt: skip
    chart: charts.LineChart | charts.BarChart | None = None
    tiles: tuple[Tile, ...] = ()
    series = ("", "")
    kind = "table"
    if panel.chart == "stat":
        tiles, kind = _tiles(table, previous, lang), "tiles"
    elif panel.chart == "line":
        chart = _line(table, previous, choice, lang, words)
        if chart is not None:
            kind = "line"
            names = [line.name for line in chart.lines] + ["", ""]
            series = (names[0], names[1])
    else:
        chart = _bars(table)
        kind = "bars" if chart is not None else "table"
    return PanelView(panel.key, _title(panel.title, lang), kind, tiles, chart, series, headers, rows, csv_link)


def table_csv(table: Table, lang: str) -> str:
    """The table as CSV: the column titles in ``lang``, then each row as the page prints it."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_title(c.title, lang) for c in table.columns])
    for row in table.rows:
        cells = [cell_text(table, cell, c.kind) for cell, c in zip(row, table.columns, strict=True)]
        writer.writerow(["'" + text if text.startswith(_FORMULA) else text for text in cells])
    return out.getvalue()


class DashboardViews:
    def __init__(self, settings: Settings, store: Store, pages: Pages) -> None:
        self.store = store
        self.pages = pages
        self.k = settings.dashboard_min_cell
        self.today = _today

    def _dashboard(self, request: Request) -> Dashboard | None:
        visitor: Visitor = request.state.visitor
        found = DASHBOARDS.get(request.path_params["key"])
        return found if found is not None and may_see(visitor.principal, found) else None

    def _choice(self, request: Request, dashboard: Dashboard) -> Choice:
        visitor: Visitor = request.state.visitor
        return parse_choice(request.query_params.multi_items(), self.today(), dashboard.scope == "organisation",
                            visitor.principal.organisations)  # fmt: skip

    def _refused(self, request: Request, exc: BadChoice) -> Response:
        return self.pages.render(request, "problem_parameter.html", 400, name=exc.name, reason=exc.reason)

    @staticmethod
    def _range(choice: Choice) -> Range:
        return Range(choice.start, choice.end, choice.platform or None, choice.organisation or None)

    async def index(self, request: Request) -> Response:
        visitor: Visitor = request.state.visitor
        lang = language(request)
        shown = [(d.key, _title(d.title, lang)) for d in visible(visitor.principal)]
        return self.pages.render(request, "dashboards.html", dashboards=shown)

    async def page(self, request: Request) -> Response:
        visitor: Visitor = request.state.visitor
        dashboard = self._dashboard(request)
        if dashboard is None:
            return self.pages.problem(request, 404, "not_found_title", "dash_not_found")
        try:
            choice = self._choice(request, dashboard)
        except BadChoice as exc:
            return self._refused(request, exc)
        live = dashboard.window_minutes is not None
        if live:  # the last minutes: no period, nothing to compare
            choice = Choice(choice.preset, choice.start, choice.end, False, choice.platform, choice.organisation)
        period = self._range(choice)
        tables = await run_in_threadpool(dashboard_tables, self.store, visitor.principal, dashboard, period, k=self.k)
        before: Mapping[str, Table] = {}
        if choice.compare:
            before = await run_in_threadpool(dashboard_tables, self.store, visitor.principal, dashboard,
                                             period.previous(), k=self.k)  # fmt: skip
        lang = language(request)
        words = i18n.translator(lang)
        query = urlencode(choice.query())
        panels = [
            panel_view(
                panel,
                tables[panel.key],
                before.get(panel.key),
                choice,
                lang,
                words,
                f"/console/dashboards/{dashboard.key}/{panel.key}.csv?{query}",
            )
            for panel in dashboard.panels
        ]
        organisations = visitor.principal.organisations
        response = self.pages.render(
            request, "dashboard.html", dashboard=dashboard, title=_title(dashboard.title, lang), panels=panels,
            choice=choice, previous=period.previous(), presets=(*PRESETS, CUSTOM), compares=COMPARE, live=live,
            window=dashboard.window_minutes, refresh=REFRESH_SECONDS,
            per_organisation=dashboard.scope == "organisation",
            organisations=sorted(organisations) if organisations is not None else None,
            others=[(d.key, _title(d.title, lang)) for d in visible(visitor.principal)],
        )  # fmt: skip
        if live:  # its refresh script, from the package, is the only script the console serves
            response.headers["Content-Security-Policy"] = CSP.replace(
                "default-src 'none';", "default-src 'none'; script-src 'self';"
            )
        return response

    async def csv(self, request: Request) -> Response:
        visitor: Visitor = request.state.visitor
        dashboard = self._dashboard(request)
        name = request.path_params["panel"]
        panel = next((p for p in dashboard.panels if p.key == name), None) if dashboard is not None else None
        if dashboard is None or panel is None:
            return self.pages.problem(request, 404, "not_found_title", "dash_not_found")
        try:
            choice = self._choice(request, dashboard)
        except BadChoice as exc:
            return self._refused(request, exc)
        try:
            table = await run_in_threadpool(panel_table, self.store, visitor.principal, dashboard, panel,
                                            self._range(choice), k=self.k)  # fmt: skip
        except NotVisible:
            return self.pages.problem(request, 404, "not_found_title", "dash_not_found")
        stamp = f"{choice.start.isoformat()}_{choice.end.isoformat()}"
        if dashboard.window_minutes is not None:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%MZ")
        headers = {"Content-Disposition": f'attachment; filename="{dashboard.key}-{panel.key}-{stamp}.csv"'}
        return secure(Response(table_csv(table, language(request)), media_type="text/csv; charset=utf-8",
                               headers=headers))  # fmt: skip
