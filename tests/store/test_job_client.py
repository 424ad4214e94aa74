"""A job's client (sealing, eligibility answers, export readers) on the embedded store is an engine
handle of its own: its queries do not hold up the other jobs', which wait for each other on one handle."""

from __future__ import annotations

import threading

from clickhouse_connect.driver.client import Client

from ccaudit.store.client import job_client


def test_a_background_query_does_not_hold_up_the_main_client(chdb_client: Client) -> None:
    background = job_client(chdb_client, "sealing")
    assert background is not chdb_client
    assert job_client(chdb_client, "sealing") is background  # one per store and job
    assert job_client(chdb_client, "learning") not in (background, chdb_client)
    done = threading.Event()

    def long_query() -> None:
        background.query("SELECT sleepEachRow(0.5) FROM numbers(6) SETTINGS max_block_size = 1")
        done.set()

    worker = threading.Thread(target=long_query)
    worker.start()
    seen_running = False
    try:
        # The main client answers while the background query runs, and sees it running. On one
        # shared handle, its question would wait for the background query to end.
        while not done.is_set() and not seen_running:
            running = chdb_client.query("SELECT count() FROM system.processes WHERE query LIKE '%sleepEachRow(0.5)%' "
                                        "AND query NOT LIKE '%system.processes%'").result_rows[0][0]  # fmt: skip
            seen_running = running > 0 and not done.is_set()
    finally:
        worker.join()
    assert seen_running
