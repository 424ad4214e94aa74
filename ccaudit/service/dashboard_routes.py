"""The dashboards over the API (``usage:read``, every console role; each dashboard then holds the
principal to its own roles and permission, see ``ccaudit.dashboards.registry``):

- ``GET /v1/dashboards``: the dashboards this principal may open, with their panels and columns;
- ``GET /v1/dashboards/{key}``: every panel's table. ``since``, ``until``: ISO days (UTC, inclusive;
  default the last 30 days up to today, at most :data:`MAX_DAYS` apart; a live dashboard reads its
  last minutes and ignores them); ``platform``, ``organisation``: filters (an org-scoped principal
  stays within its organisations whatever is asked); ``compare=1``: the previous period too (not for
  a live dashboard).
  Suppressed figures are the text "<k";
- ``GET /v1/dashboards/{key}/{panel}.csv``: one panel's table as CSV, same parameters but ``compare``.

400 naming a bad parameter; 404 for an unknown dashboard or panel; 403 for a dashboard the
principal may not open.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ccaudit.dashboards import DASHBOARDS, Dashboard, Range, dashboard_tables, panel_table, visible
from ccaudit.dashboards.export import table_csv
from ccaudit.dashboards.registry import may_see
from ccaudit.service import params
from ccaudit.service.answers import error, guarded
from ccaudit.service.auth import principal
from ccaudit.service.params import BadParameter
from ccaudit.settings import Settings
from ccaudit.store import Store

MAX_DAYS = 800  # two years and some: what the rollups are built to answer fast
DEFAULT_DAYS = 30
_KNOWN = {"since", "until", "platform", "organisation", "compare"}


def parse_range(query: dict[str, str], today: date, known: set[str] = _KNOWN) -> Range:
    """Query-string parameters → Range, or BadParameter naming the parameter."""
    params.refuse_unknown(query, known)
    until = params.iso_day("until", query.get("until"), today)
    since = params.iso_day("since", query.get("since"), max(params.FIRST_DAY, until - timedelta(days=DEFAULT_DAYS - 1)))
    if since > until:
        raise BadParameter("since", "must not be after until")
    if (until - since).days >= MAX_DAYS:
        raise BadParameter("since", f"the range may span at most {MAX_DAYS} days")
    platform = params.text("platform", query.get("platform"), 256) or None
    organisation = params.text("organisation", query.get("organisation"), 256) or None
    return Range(since, until, platform, organisation)


def describe(dashboard: Dashboard) -> dict[str, Any]:
    return {
        "key": dashboard.key,
        "title": dict(dashboard.title),
        "scope": dashboard.scope,
        "live_minutes": dashboard.window_minutes,
        "panels": [
            {"key": p.key, "title": dict(p.title), "chart": p.chart,
             "columns": [{"key": c.key, "title": dict(c.title), "kind": c.kind} for c in p.columns]}
            for p in dashboard.panels
        ],
    }  # fmt: skip


def dashboard_routes(settings: Settings, store: Store) -> list[Route]:
    k = settings.dashboard_min_cell

    def opened(request: Request) -> Dashboard | Response:
        dashboard = DASHBOARDS.get(request.path_params["key"])
        if dashboard is None:
            return error(404, "no such dashboard")
        if not may_see(principal(request), dashboard):
            return error(403, f"this credential may not open the {dashboard.key} dashboard")
        return dashboard

    @guarded
    async def listing(request: Request) -> Response:
        params.refuse_unknown(dict(request.query_params), ())
        return JSONResponse({"dashboards": [describe(d) for d in visible(principal(request))], "k": k})

    @guarded
    async def one(request: Request) -> Response:
        dashboard = opened(request)
        if isinstance(dashboard, Response):
            return dashboard
        query = dict(request.query_params)
        span = parse_range(query, datetime.now(UTC).date())
        compare = query.get("compare", "0")
        if compare not in ("0", "1"):
            raise BadParameter("compare", "0 or 1")
        who = principal(request)

        def read() -> dict[str, Any]:
            body: dict[str, Any] = {
                "dashboard": dashboard.key, "k": k, "since": span.start.isoformat(), "until": span.end.isoformat(),
                "platform": span.platform, "organisation": span.organisation, "live_minutes": dashboard.window_minutes,
                "panels": {key: t.as_json() for key, t in dashboard_tables(store, who, dashboard, span, k=k).items()},
            }  # fmt: skip
            # A live dashboard reads its last minutes whatever the range: it has no previous period.
            if compare == "1" and dashboard.window_minutes is None:
                previous = span.previous()
                before = dashboard_tables(store, who, dashboard, previous, k=k)
                body["previous"] = {
                    "since": previous.start.isoformat(), "until": previous.end.isoformat(),
                    "panels": {key: t.as_json() for key, t in before.items()},
                }  # fmt: skip
            return body

        return JSONResponse(await run_in_threadpool(read))

    @guarded
    async def csv(request: Request) -> Response:
        dashboard = opened(request)
        if isinstance(dashboard, Response):
            return dashboard
        try:
            panel = dashboard.panel(request.path_params["panel"])
        except KeyError:
            return error(404, "no such panel")
        span = parse_range(dict(request.query_params), datetime.now(UTC).date(), _KNOWN - {"compare"})
        table = await run_in_threadpool(panel_table, store, principal(request), dashboard, panel, span, k=k)
        name = f"{dashboard.key}-{panel.key}-{span.start.isoformat()}-{span.end.isoformat()}.csv"
        return Response(
            table_csv(table),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    return [
        Route("/v1/dashboards", listing, methods=["GET"]),
        Route("/v1/dashboards/{key}", one, methods=["GET"]),
        Route("/v1/dashboards/{key}/{panel}.csv", csv, methods=["GET"]),
    ]
