"""Writing page views and summarising them for dashboards. Every value is a bound parameter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from ccaudit.store.client import insert_columns, query_rows

COLUMNS = (
    "event_id", "event_time", "received_at", "platform", "page", "admin_area", "referrer_host", "browser",
    "browser_version", "os", "device", "is_bot", "country", "visitor_hash", "retention_days", "payload_sha256",
)  # fmt: skip

# Dimensions of the summary's top lists: name in the answer → column. Identifiers come from here only.
DIMENSIONS = {
    "pages": "page",
    "browsers": "browser",
    "os": "os",
    "devices": "device",
    "countries": "country",
    "referrers": "referrer_host",
}


def insert_usage(client: Client, database: str, columns: Sequence[Sequence[Any]]) -> None:
    """Insert column-oriented data, one sequence per name in COLUMNS."""
    insert_columns(client, database, "usage_events", columns, COLUMNS)


@dataclass(frozen=True, slots=True)
class UsageQuery:
    """A summary request: a platform (or all), an inclusive range of UTC days, optional filters."""

    since: date
    until: date
    platform: str | None = None
    page: str | None = None
    referrer: str | None = None
    top: int = 10
    # The principal's platforms (a platform read token's one), applied before any filter; None = all.
    scope_platforms: frozenset[str] | None = None


def summarise_usage(client: Client, database: str, query: UsageQuery) -> dict[str, Any]:
    """Page views and visitors per day, and top lists. Bots are counted apart, never as visitors."""
    clauses = ["event_time >= {since:Date}", "event_time < {until:Date}"]
    params: dict[str, Any] = {"since": query.since, "until": query.until + timedelta(days=1), "top": query.top}
    if query.scope_platforms is not None:
        clauses.append("platform IN {scope_platforms:Array(String)}")
        params["scope_platforms"] = sorted(query.scope_platforms)
    for column, value in (("platform", query.platform), ("page", query.page), ("referrer_host", query.referrer)):
        if value is not None:
            clauses.append(f"{column} = {{{column}:String}}")
            params[column] = value
    where = " AND ".join(clauses)
    source = f"{database}.usage_events FINAL WHERE {where}"
    per_day = query_rows(
        client,
        "SELECT toDate(event_time) AS day, countIf(NOT is_bot) AS views, "
        "uniqExactIf(visitor_hash, NOT is_bot AND visitor_hash != '') AS visitors, countIf(is_bot) AS bots "
        f"FROM {source} GROUP BY day ORDER BY day",
        params,
    )
    summary: dict[str, Any] = {
        "since": query.since.isoformat(),
        "until": query.until.isoformat(),
        "platform": query.platform,
        "days": [
            {"day": day.isoformat(), "page_views": int(views), "visitors": int(visitors), "bot_views": int(bots)}
            for day, views, visitors, bots in per_day
        ],
    }
    summary["page_views"] = sum(d["page_views"] for d in summary["days"])
    summary["bot_views"] = sum(d["bot_views"] for d in summary["days"])
    for name, column in DIMENSIONS.items():
        rows = query_rows(
            client,
            f"SELECT {column} AS key, count() AS n FROM {source} AND NOT is_bot AND {column} != '' "
            "GROUP BY key ORDER BY n DESC, key LIMIT {top:UInt16}",
            params,
        )
        summary[name] = [{"key": key, "page_views": int(n)} for key, n in rows]
    return summary
