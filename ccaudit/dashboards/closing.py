"""Closed days (migration 0042): the engine's refreshable views that keep each finished day's visitor
counts as numbers, so that the dashboards read numbers for past days and uniqExact states only for
the days still open. They refresh by themselves every 5 minutes; :func:`close_days` asks for it now."""

from __future__ import annotations

from ccaudit.store import Store
from ccaudit.store.client import command

# The views the panels read: view → (its question in usage_closed, the column it gives per day and
# platform; None: per day and platform only).
QUESTIONS: dict[str, tuple[str, str | None]] = {
    "usage_visits": ("visits", None),
    "usage_pages": ("page", "page"),
    "usage_browsers": ("browser", "browser"),
    "usage_systems": ("os", "os"),
    "usage_devices": ("device", "device"),
    "usage_countries": ("country", "country"),
    "usage_referrers": ("referrer", "referrer_host"),
}
CLOSERS = ("usage_daily_close", "usage_pages_close", "usage_devices_close", "usage_countries_close",
           "usage_referrers_close")  # fmt: skip


def close_days(store: Store) -> None:
    """Run every closer now and wait for them (after a migration over a long history, say, or in a
    test). Nothing depends on it for correctness: the views read the states of a day not closed."""
    for view in CLOSERS:
        command(store.client, f"SYSTEM REFRESH VIEW {store.database}.{view}")
    for view in CLOSERS:
        command(store.client, f"SYSTEM WAIT VIEW {store.database}.{view}")
