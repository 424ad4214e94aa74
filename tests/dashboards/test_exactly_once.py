"""Each rollup counts each event once: batches resent (whole, re-batched, concurrently) and events
arriving late go through the real ingest, and every view's totals equal the raw distinct counts."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from ccaudit.ids import new_id
from ccaudit.ingest import Ingestor
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.client import query_rows
from tests.conftest import days_ago_ms
from tests.dashboards.world import FIREFOX, operation, receipt, send, view

# rollup → (its grouping columns, the raw table, the raw expression of each, its figures: rollup SQL, raw SQL)
VIEWS: dict[str, tuple[str, str, str, list[tuple[str, str]]]] = {
    "usage_daily": ("day, platform", "usage_events", "toDate(event_time) AS day, platform",
                    [("sum(page_views)", "count()"), ("uniqExactMerge(visitors)", "uniqExact(visitor_hash)")]),
    "usage_pages_daily": ("day, platform, page", "usage_events", "toDate(event_time) AS day, platform, page",
                          [("sum(page_views)", "count()"), ("uniqExactMerge(visitors)", "uniqExact(visitor_hash)")]),
    "usage_devices_daily": ("day, platform, browser, os, device", "usage_events",
                            "toDate(event_time) AS day, platform, browser, os, device",
                            [("sum(page_views)", "count()"), ("uniqExactMerge(visitors)", "uniqExact(visitor_hash)")]),
    "usage_countries_daily": ("day, platform, country", "usage_events", "toDate(event_time) AS day, platform, country",
                              [("sum(page_views)", "count()"), ("uniqExactMerge(visitors)", "uniqExact(visitor_hash)")]),
    "usage_referrers_daily": ("day, platform, referrer_host", "usage_events",
                              "toDate(event_time) AS day, platform, referrer_host",
                              [("sum(page_views)", "count()"), ("uniqExactMerge(visitors)", "uniqExact(visitor_hash)")]),
    "usage_minutes": ("minute, platform, page", "usage_events",
                      "toStartOfMinute(toDateTime(event_time, 'UTC')) AS minute, platform, page",
                      [("sum(page_views)", "count()"), ("uniqExactMerge(visitors)", "uniqExact(visitor_hash)")]),
    "audit_daily": ("day, platform, organisation, action, outcome", "audit_events",
                    "toDate(event_time) AS day, platform, organisation, action, toString(outcome) AS outcome",
                    [("sum(operations)", "count()")]),
    "consent_daily": ("day, platform, action, method", "consent_receipts",
                      "toDate(event_time) AS day, platform, toString(action) AS action, toString(method) AS method",
                      [("sumIf(receipts, category = '')", "count()")]),
}  # fmt: skip


def _figures(
    store: Store, rollup: str
) -> tuple[dict[tuple[Any, ...], tuple[int, ...]], dict[tuple[Any, ...], tuple[int, ...]]]:
    keys, raw, raw_keys, figures = VIEWS[rollup]
    db = store.database
    where = "WHERE NOT is_bot" if raw == "usage_events" else ""
    rolled = query_rows(
        store.client, f"SELECT {keys}, {', '.join(f for f, _ in figures)} FROM {db}.{rollup} GROUP BY {keys}"
    )
    # FINAL and a distinct count of ids: what the raw rows hold once each redelivery is collapsed.
    raw_rows = query_rows(
        store.client,
        f"SELECT {raw_keys}, {', '.join(r for _, r in figures)} FROM "
        f"(SELECT * FROM {db}.{raw} FINAL {where} LIMIT 1 BY event_id) GROUP BY {keys}",
    )
    n = len(keys.split(","))
    as_map = lambda rows: {tuple(r[:n]): tuple(int(x) for x in r[n:]) for r in rows}  # noqa: E731
    return as_map(rolled), as_map(raw_rows)


def _mixed_events(rng: random.Random) -> list[dict[str, Any]]:
    today, yesterday = days_ago_ms(0), days_ago_ms(1)
    events: list[dict[str, Any]] = []
    for i in range(60):
        when = rng.choice((today, yesterday)) + i
        ua = FIREFOX if i % 3 == 0 else None
        page, ref = rng.choice(("/", "/courses/{id}", "/news")), rng.choice(("", "search.example", "news.example"))
        events.append(view(when, rng.randrange(12), page, ref, **({"ua": ua} if ua else {})))
    for i in range(20):
        outcome = rng.choice(("success", "denied", "failed"))
        events.append(operation(today + i, rng.choice(("org-a", "org-b")), rng.choice(("a.edit", "a.view")), outcome))
    for i in range(20):
        action = rng.choice(("accept_all", "custom", "reject_all", "withdraw"))
        events.append(receipt(yesterday + i, action, ["analytics"] if i % 2 else [], ["marketing"]))
    return events


@pytest.mark.parametrize("rollup", list(VIEWS))
def test_resends_and_late_events_are_counted_once(store: Store, rollup: str) -> None:
    ingestor = Ingestor(Settings(), store)
    rng = random.Random(rollup)
    events = _mixed_events(rng)
    first, late = events[::2], events[1::2]
    send(ingestor, first)
    send(ingestor, first)  # the same events again, in a new batch
    shuffled = first[:]
    rng.shuffle(shuffled)
    send(ingestor, shuffled[:25])  # re-batched differently
    send(ingestor, shuffled[25:] + late[:10])  # a resend mixed with new events
    # Two senders deliver the same batch at once (a retry racing the original).
    batch = {"schema_version": 1, "batch_id": new_id(), "platform": "coop", "events": late}
    threads = [threading.Thread(target=ingestor.ingest, args=(batch,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Late events: yesterday's page views and receipts arriving after today's.
    send(ingestor, [view(days_ago_ms(1) + 5_000 + v, v, "/late") for v in range(6)])
    send(ingestor, [receipt(days_ago_ms(1) + 9_000, "withdraw", [], ["analytics"])])
    send(ingestor, late[:5])
    rolled, raw = _figures(store, rollup)
    assert rolled == raw
    assert sum(v[0] for v in rolled.values()) > 0
