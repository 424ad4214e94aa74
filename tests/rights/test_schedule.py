"""The service runs the retention job on its own schedule (CCAUDIT_RETENTION_INTERVAL_MINUTES), in its
lifespan; and a request's deadline is a calendar month, whatever the day it was received."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from ccaudit.rights.requests import add_months
from ccaudit.service.app import create_app
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.client import insert_rows, query_rows
from tests.conftest import wait_until


def test_the_service_runs_the_retention_job_on_its_schedule(store: Store) -> None:
    # An account last used three years ago (no rows left): the job finds it due and records its run.
    insert_rows(store.client, store.database, "account_last_use",
                [["coop", "acct-gone", datetime.now(UTC) - timedelta(days=1100)]],
                ["platform", "account_id", "last_use"])  # fmt: skip
    app = create_app(Settings(admin_token="admin-secret-of-the-schedule", retention_interval_minutes=0.002), store)
    sql = f"SELECT count() FROM {store.database}.audit_events WHERE action = 'retention.erase'"

    async def serve_a_while() -> None:
        # The app's lifespan, as a server runs it: the schedule starts with it and stops with it.
        async with app.router.lifespan_context(app):
            await asyncio.to_thread(wait_until, lambda: query_rows(store.client, sql)[0][0] >= 1, 60)

    asyncio.run(serve_a_while())
    left = query_rows(
        store.client, f"SELECT count() FROM {store.database}.account_last_use WHERE account_id = 'acct-gone'"
    )
    assert left[0][0] == 0


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 12, 31)))
def test_a_deadline_is_one_calendar_month_later(received: datetime) -> None:
    due = add_months(received.replace(tzinfo=UTC), 1)
    assert 28 <= (due - received.replace(tzinfo=UTC)).days <= 31
    assert due.time() == received.time()
    assert (due.month - received.month) % 12 == 1
