"""Dashboards at scale, on the embedded engine: every dashboard query on the rollups, and the same
question on the raw rows.

Generates ``--events`` page views spread over ``--days`` days (two years by default) inside the engine
(``INSERT … SELECT … FROM numbers()`` into ``usage_events``, in chunks, so that the rollups'
materialized views fill as ingest would fill them), each with a retention that keeps it, in a
temporary folder deleted afterwards. Pages follow a long tail, visitors a daily pool per platform.
Then waits for the engine's own merges to go quiet (no OPTIMIZE: the state it reaches by itself), has
the engine close the finished days now (its refreshable views would within 5 minutes; migration 0042)
and:

- times every panel of the usage dashboards and "now" through the query layer
  (``ccaudit.dashboards.query.panel_table``, suppression included) over the whole range, ``--runs``
  times each: p50 and p95;
- times the same question on the raw rows: the panel's SQL with each view or rollup replaced by the
  same question over ``usage_events`` (what it holds, computed at read time);
- reports each rollup's rows against the raw rows.

The last line:

    dashboards p95_ms=<worst panel p95 on the rollups> rollup_ratio=<worst rollup time / raw time, p50>

The issue's figure is ``--events 100000000``; the default is a small run that proves the script
works. Never run by ``make test``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ccaudit.access.principal import account_principal
from ccaudit.access.roles import Role
from ccaudit.dashboards import DASHBOARDS, Range, panel_table
from ccaudit.dashboards.closing import QUESTIONS, close_days
from ccaudit.dashboards.query import bounds_for
from ccaudit.dashboards.sql import expand, suppressed
from ccaudit.store import Store
from ccaudit.store.client import command, open_client, query_rows

USAGE = ("overview", "pages", "sources", "devices", "countries", "now")
CHUNK = 5_000_000


def generate(store: Store, events: int, days: int, pages: int, visitors: int) -> None:
    db = store.database
    for offset in range(0, events, CHUNK):
        n = min(CHUNK, events - offset)
        # Times spread evenly over the days; a page's rank follows a long tail (1/x); a visitor is
        # one of the day's pool, hashed with the day and platform as the daily salt would.
        command(
            store.client,
            f"INSERT INTO {db}.usage_events (event_id, event_time, received_at, platform, page, admin_area, "
            "referrer_host, browser, browser_version, os, device, is_bot, country, visitor_hash, retention_days, "
            "payload_sha256) "
            "SELECT generateUUIDv4(number), t, t, ['coop', 'learning', 'library'][number % 3 + 1], "
            "concat('/page/', toString(intDiv({pages:UInt32}, 1 + cityHash64(number, 1) % {pages:UInt32}))), false, "
            "['', '', 'search.example', 'news.example', 'mail.example'][cityHash64(number, 2) % 5 + 1], "
            "['Chrome', 'Firefox', 'Safari', 'Edge'][cityHash64(number, 3) % 4 + 1], '120', "
            "['Windows', 'Linux', 'macOS', 'Android', 'iOS'][cityHash64(number, 4) % 5 + 1], "
            "['desktop', 'mobile', 'tablet'][cityHash64(number, 5) % 3 + 1], false, "
            "['NL', 'BE', 'FR', 'DE', 'LU', ''][cityHash64(number, 6) % 6 + 1], "
            "hex(cityHash64(toDate(t), number % 3, cityHash64(number, 7) % {visitors:UInt32})), "
            "{keep:UInt16}, '' "
            "FROM (SELECT number, now64(3) - toIntervalMillisecond(intDiv(number * {span:UInt64}, {events:UInt64})) "
            "AS t FROM numbers({offset:UInt64}, {n:UInt64}))",
            {"pages": pages, "visitors": visitors, "keep": days + 60, "span": days * 86_400_000,
             "events": events, "offset": offset, "n": n},
        )  # fmt: skip


def settle(store: Store, limit: float = 300.0) -> float:
    """Seconds waited until no merge of this database runs (at most ``limit``)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        running = query_rows(store.client, "SELECT count() FROM system.merges WHERE database = {db:String}",
                             {"db": store.database})[0][0]  # fmt: skip
        if not running:
            break
        time.sleep(1)
    return time.monotonic() - started


def raw_sql(store: Store, sql: str) -> str:
    """``sql`` (expanded) with each rollup or view replaced by the same question over the raw rows."""
    views = dict(query_rows(store.client, "SELECT name, as_select FROM system.tables WHERE database = {db:String} "
                            "AND engine = 'MaterializedView'", {"db": store.database}))  # fmt: skip
    db = re.escape(store.database)

    def raw(match: re.Match[str]) -> str:
        if match[1] in QUESTIONS:
            column = QUESTIONS[match[1]][1]
            keys = f"day, platform, {column}" if column else "day, platform"
            return (
                f"(SELECT toDate(event_time) AS day, platform{', ' + column if column else ''}, "
                "uniqExact(visitor_hash) AS visitors, count() AS page_views "
                f"FROM {store.database}.usage_events WHERE NOT is_bot GROUP BY {keys}) AS {match[1]}"
            )
        return f"({views[match[1] + '_mv']}) AS {match[1]}"

    return re.sub(rf"\b{db}\.(usage_\w+)\b", raw, sql)


def timed(run: Any, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, round(0.95 * len(samples)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--pages", type=int, default=2_000)
    parser.add_argument("--visitors", type=int, default=3_000, help="each platform's pool of visitors per day")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--raw-runs", type=int, default=5)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="ccaudit-dashboards-"))
    try:
        store = Store(open_client(f"chdb://{folder / 'data'}"), f"bench_{uuid.uuid4().hex[:8]}")
        store.migrate()
        started = time.perf_counter()
        generate(store, args.events, args.days, args.pages, args.visitors)
        print(f"generated {args.events:,} page views over {args.days} days in {time.perf_counter() - started:.1f} s")
        print(f"merges settled after {settle(store):.1f} s")
        # The closers would run by themselves within 5 minutes; the benchmark asks for them now.
        started = time.perf_counter()
        close_days(store)
        print(f"finished days closed in {time.perf_counter() - started:.1f} s")

        raw_rows = query_rows(store.client, f"SELECT count() FROM {store.database}.usage_events")[0][0]
        print(f"\n{'table':<24}{'rows':>14}{'rows / raw':>12}")
        print(f"{'usage_events':<24}{raw_rows:>14,}{1:>12.4f}")
        for table in ("usage_daily", "usage_pages_daily", "usage_devices_daily", "usage_countries_daily",
                      "usage_referrers_daily", "usage_minutes", "usage_closed"):  # fmt: skip
            rows = query_rows(store.client, f"SELECT count() FROM {store.database}.{table}")[0][0]
            print(f"{table:<24}{rows:>14,}{rows / raw_rows:>12.4f}")

        reader = account_principal("bench", Role.DPO, frozenset())
        today = datetime.now(UTC).date()
        span = Range(today - timedelta(days=args.days - 1), today)
        worst_p95 = 0.0
        worst_ratio = 0.0
        print(f"\n{'panel':<34}{'p50 ms':>9}{'p95 ms':>9}{'raw p50':>10}{'raw p95':>10}{'ratio':>8}")
        for key in USAGE:
            dashboard = DASHBOARDS[key]
            for panel in dashboard.panels:
                p50, p95 = timed(lambda: panel_table(store, reader, dashboard, panel, span), args.runs)  # noqa: B023
                sql, params = expand(panel.sql, store.database, bounds_for(reader, dashboard, span))
                params["k"] = 5
                raw = suppressed(raw_sql(store, sql), panel.columns, "{k:UInt32}")
                r50, r95 = timed(lambda: query_rows(store.client, raw, params), args.raw_runs)  # noqa: B023
                ratio = p50 / r50 if r50 else 0.0
                worst_p95, worst_ratio = max(worst_p95, p95), max(worst_ratio, ratio)
                print(f"{key + '.' + panel.key:<34}{p50:>9.1f}{p95:>9.1f}{r50:>10.1f}{r95:>10.1f}{ratio:>8.3f}")
        print(f"\ndashboards p95_ms={worst_p95:.1f} rollup_ratio={worst_ratio:.3f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
