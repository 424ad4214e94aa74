"""Closed days (migration 0042): the views the dashboards read give the raw distinct counts per day,
platform and value before a day is closed, once it is, after a late event reopens it, after a
repeated or half-done close, and the closers keep finished days only (never today)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from ccaudit.dashboards.closing import QUESTIONS, close_days
from ccaudit.ingest import Ingestor
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.client import command, query_rows
from tests.conftest import days_ago_ms
from tests.dashboards.world import CHROME, FIREFOX, send, view

Figures = dict[tuple[Any, ...], tuple[int, int]]


def _keys(name: str) -> str:
    column = QUESTIONS[name][1]
    return f"day, platform{', ' + column if column else ''}"


def _as_figures(rows: list[Any], keys: str) -> Figures:
    n = len(keys.split(","))
    return {tuple(r[:n]): (int(r[n]), int(r[n + 1])) for r in rows}


def _views(store: Store, name: str) -> Figures:
    keys = _keys(name)
    rows = query_rows(store.client, f"SELECT {keys}, visitors, page_views FROM {store.database}.{name}")
    figures = _as_figures(rows, keys)
    assert len(figures) == len(rows), f"{name}: a day, platform and value given twice"
    return figures


def _raw(store: Store, name: str) -> Figures:
    keys = _keys(name).replace("day,", "toDate(event_time) AS day,", 1)
    rows = query_rows(
        store.client,
        f"SELECT {keys}, uniqExact(visitor_hash), count() FROM {store.database}.usage_events "
        f"WHERE NOT is_bot GROUP BY {_keys(name)}",
    )
    return _as_figures(rows, keys)


def _history(rng: random.Random) -> list[dict[str, Any]]:
    """Page views over the last five days and today, two browsers, several pages and referrers, with
    visitors coming back within a day (one daily hash per visitor and day)."""
    events = []
    for days in range(6):
        for i in range(40):
            visitor = rng.randrange(15)
            events.append(view(days_ago_ms(days) - i * 1000, visitor, rng.choice(("/", "/news", "/courses/{id}")),
                               rng.choice(("", "search.example")), CHROME if visitor % 3 else FIREFOX))  # fmt: skip
    return events


def _closed_days(store: Store, question: str) -> set[Any]:
    rows = query_rows(
        store.client,
        f"SELECT DISTINCT day FROM {store.database}.usage_closed WHERE question = {{q:String}}",
        {"q": question},
    )
    return {r[0] for r in rows}


def _all_equal(store: Store) -> None:
    for name in QUESTIONS:
        assert _views(store, name) == _raw(store, name), name


@pytest.fixture
def ingestor(store: Store) -> Ingestor:
    return Ingestor(Settings(), store)


def test_views_give_the_raw_counts_before_and_after_days_are_closed(store: Store, ingestor: Ingestor) -> None:
    send(ingestor, _history(random.Random(15)))
    _all_equal(store)  # nothing closed yet: every day from the states
    close_days(store)
    today = datetime.now(UTC).date()
    for question, _ in QUESTIONS.values():
        closed = _closed_days(store, question)
        assert len(closed) == 5, question  # the five finished days
        assert today not in closed, question
    _all_equal(store)
    close_days(store)  # a repeated close changes nothing
    _all_equal(store)
    # And the finished days are read from usage_closed, not from the states: a closed count changed
    # there (page views kept, so the day still looks complete) shows in the view.
    day = datetime.fromtimestamp(days_ago_ms(4) / 1000, UTC).date()
    command(
        store.client,
        f"INSERT INTO {store.database}.usage_closed SELECT question, platform, day, value, max(page_views), "
        f"max(visitors) + 100 FROM {store.database}.usage_closed WHERE question = 'visits' AND day = {{d:Date}} "
        "GROUP BY question, platform, day, value",
        {"d": day},
    )
    shown, raw = _views(store, "usage_visits"), _raw(store, "usage_visits")
    assert shown[(day, "coop")][0] == raw[(day, "coop")][0] + 100


def test_a_late_event_reopens_its_day_until_the_next_close(store: Store, ingestor: Ingestor) -> None:
    send(ingestor, _history(random.Random(16)))
    close_days(store)
    # A page view three days late, by a new visitor with a new browser, on a page and from a referrer
    # that day has not seen: every question's figures for that day change.
    send(ingestor, [view(days_ago_ms(3) + 500, 40, "/late", "late.example", FIREFOX)])
    _all_equal(store)  # at once, before any close: the day is read from its states
    close_days(store)
    _all_equal(store)
    late_day = datetime.fromtimestamp(days_ago_ms(3) / 1000, UTC).date()
    pages = query_rows(
        store.client,
        f"SELECT max(visitors) FROM {store.database}.usage_closed WHERE question = 'page' AND day = {{d:Date}} "
        "AND value = '/late'",
        {"d": late_day},
    )
    assert pages == [(1,)]  # the day was closed again, the late page with it


def test_a_half_done_close_is_never_read(store: Store, ingestor: Ingestor) -> None:
    send(ingestor, _history(random.Random(17)))
    # What a close interrupted after its first rows would leave: some of a day's values, or all of
    # them but lower (an earlier close of a day that has grown since).
    day = datetime.fromtimestamp(days_ago_ms(2) / 1000, UTC).date()
    command(
        store.client,
        f"INSERT INTO {store.database}.usage_closed SELECT question, platform, day, value, 1, 1 FROM "
        f"(SELECT 'page' AS question, platform, day, page AS value FROM {store.database}.usage_pages_daily "
        "WHERE day = {d:Date} LIMIT 1 UNION ALL SELECT 'visits', platform, day, '' FROM "
        f"{store.database}.usage_daily WHERE day = {{d:Date}})",
        {"d": day},
    )
    _all_equal(store)
    close_days(store)
    _all_equal(store)
