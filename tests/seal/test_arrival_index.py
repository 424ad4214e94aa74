"""Sealing reads a period's rows by arrival through a min-max index (migration 0041): a round reads
the granules that arrived in its period, not the whole table."""

from __future__ import annotations

import pytest

from ccaudit.store import Store
from ccaudit.store.client import query_rows


@pytest.mark.parametrize("table", ["audit_events", "consent_receipts", "learning_events"])
def test_a_period_reads_only_what_arrived_in_it(store: Store, table: str) -> None:
    db = store.database
    # Two parts: rows that arrived a year ago, and rows that arrived a minute ago.
    for age in ("INTERVAL 365 DAY", "INTERVAL 1 MINUTE"):
        store.client.command(
            f"INSERT INTO {db}.{table} (event_id, event_time, received_at, platform, retention_days) "
            f"SELECT generateUUIDv4(number), now64(3) - {age}, now64(3) - {age}, 'coop', 730 FROM numbers(20000)"
        )
    where = "received_at >= now64(3) - INTERVAL 5 MINUTE AND received_at < now64(3) AND platform = 'coop'"
    sql = f"SELECT count() FROM {db}.{table} WHERE {where}"
    plan = "\n".join(str(r[0]) for r in query_rows(store.client, f"EXPLAIN indexes = 1 {sql}"))
    assert "idx_received" in plan
    # More than one period's rows read would raise here.
    read = query_rows(store.client, f"{sql} SETTINGS max_rows_to_read = 20000, read_overflow_mode = 'throw'")
    assert read[0][0] == 20000
