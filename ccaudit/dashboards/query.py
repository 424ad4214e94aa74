"""Dashboards' tables for a principal: the query layer of the console's pages, the API and the CSV.

Each panel's SQL (see :mod:`ccaudit.dashboards.sql`) is expanded with bound parameters, its tables
held to the principal's platforms and organisations (from the principal, never from a parameter),
wrapped in the small-cell suppression both renderers share, and read from the rollups.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from ccaudit.access.principal import Principal
from ccaudit.dashboards.model import SUPPRESSED, Cell, Dashboard, Panel, Range, Table
from ccaudit.dashboards.registry import may_see
from ccaudit.dashboards.sql import Bounds, expand, suppressed
from ccaudit.store import Store
from ccaudit.store.client import query_rows

DEFAULT_K = 5


class NotVisible(PermissionError):
    """The principal may not open this dashboard."""


def bounds_for(principal: Principal, dashboard: Dashboard, range: Range, now: datetime | None = None) -> Bounds:
    """The span a query reads (a live dashboard: its last minutes up to ``now``), the reader's filters
    and the principal's scope."""
    if dashboard.window_minutes is not None:
        end = (now or datetime.now(UTC)).replace(microsecond=0)
        start = end - timedelta(minutes=dashboard.window_minutes)
    else:
        start = datetime.combine(range.start, time(), UTC)
        end = datetime.combine(range.end, time(23, 59, 59), UTC)
    return Bounds(
        first_day=start.date(),
        last_day=end.date(),
        start=start,
        end=end,
        platform=range.platform,
        organisation=range.organisation,
        scope_platforms=principal.platforms,
        scope_organisations=principal.organisations if dashboard.scope == "organisation" else None,
    )


def _cell(value: Any) -> Cell:
    if value is None or isinstance(value, (int, float, str)):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value
    return str(value)


def panel_table(
    store: Store,
    principal: Principal,
    dashboard: Dashboard,
    panel: Panel,
    range: Range,
    *,
    k: int = DEFAULT_K,
    now: datetime | None = None,
) -> Table:
    """``panel`` of ``dashboard`` over ``range`` as ``principal`` may see it, small cells suppressed.
    Raises NotVisible when the principal may not open the dashboard."""
    if not may_see(principal, dashboard):
        raise NotVisible(dashboard.key)
    sql, params = expand(panel.sql, store.database, bounds_for(principal, dashboard, range, now))
    params["k"] = k
    rows = query_rows(store.client, suppressed(sql, panel.columns, "{k:UInt32}"), params)
    measures = [c.kind in ("count", "visitors", "ratio") for c in panel.columns]
    out: list[tuple[Cell, ...]] = []
    hidden = 0
    for row in rows:
        hide = bool(row[-1])
        hidden += hide
        out.append(tuple(SUPPRESSED if hide and m else _cell(v) for v, m in zip(row[:-1], measures, strict=True)))
    return Table(panel.columns, tuple(out), k, hidden)


def dashboard_tables(
    store: Store,
    principal: Principal,
    dashboard: Dashboard,
    range: Range,
    *,
    k: int = DEFAULT_K,
    now: datetime | None = None,
) -> dict[str, Table]:
    """Every panel of ``dashboard``, by panel key."""
    return {p.key: panel_table(store, principal, dashboard, p, range, k=k, now=now) for p in dashboard.panels}
