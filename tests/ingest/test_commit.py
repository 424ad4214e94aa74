"""Group commit: batches that arrive while an insert runs share the next insert; every caller returns
only once its rows are stored, or raises the error of the insert that carried them."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from ccaudit.ingest import Ingestor
from ccaudit.ingest.commit import Batch, GroupCommit
from ccaudit.settings import Settings
from ccaudit.store import Store
from tests.conftest import wait_until
from tests.ingest.test_pipeline import batch, wire


class Table:
    """An insert function that records what it got, and can be held or made to fail."""

    def __init__(self) -> None:
        self.calls: list[list[list[Any]]] = []
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()
        self.fail: Exception | None = None

    def __call__(self, columns: list[list[Any]]) -> None:
        self.entered.set()
        assert self.hold.wait(10)
        if self.fail is not None:
            raise self.fail
        self.calls.append(columns)


def cols(*ids: int) -> list[list[Any]]:
    return [list(ids), [f"v{i}" for i in ids]]


def run(commit: GroupCommit, tables: dict[str, list[list[Any]]], errors: list[BaseException]) -> threading.Thread:
    def go() -> None:
        try:
            commit.insert(Batch("coop", tables))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=go)
    thread.start()
    return thread


def start_held(commit: GroupCommit, table: Table, errors: list[BaseException]) -> threading.Thread:
    """A first caller whose insert is running, held there until ``table.hold`` is set."""
    table.hold.clear()
    first = run(commit, {"audit": cols(0)}, errors)
    assert table.entered.wait(10)
    return first


def test_alone_a_batch_is_inserted_as_it_is() -> None:
    audit = Table()
    commit = GroupCommit({"audit": audit})
    commit.insert(Batch("coop", {"audit": cols(1, 2)}))
    commit.insert(Batch("coop", {"audit": cols(3)}))
    commit.insert(Batch("coop", {"audit": []}))  # nothing to store: no insert
    assert audit.calls == [cols(1, 2), cols(3)]


def test_batches_arriving_during_an_insert_share_the_next_one_in_order_of_arrival() -> None:
    audit = Table()
    commit = GroupCommit({"audit": audit})
    errors: list[BaseException] = []
    first = start_held(commit, audit, errors)
    others = []
    for n in (2, 3, 4):
        others.append(run(commit, {"audit": cols(n, n * 10)}, errors))
        wait_until(lambda n=n: len(commit._waiting) >= n - 1, timeout=10, interval=0.005)
    assert all(t.is_alive() for t in others)  # nobody returns before its rows are stored
    audit.hold.set()
    for thread in [first, *others]:
        thread.join(10)
    assert not errors
    assert audit.calls == [cols(0), cols(2, 20, 3, 30, 4, 40)]


def test_every_caller_of_a_failed_insert_gets_its_error_and_a_later_insert_works() -> None:
    audit = Table()
    commit = GroupCommit({"audit": audit})
    errors: list[BaseException] = []
    first = start_held(commit, audit, errors)
    others = [run(commit, {"audit": cols(n)}, errors) for n in (2, 3)]
    wait_until(lambda: len(commit._waiting) >= 2, timeout=10, interval=0.005)
    audit.fail = RuntimeError("store down")
    audit.hold.set()
    for thread in [first, *others]:
        thread.join(10)
    assert [str(e) for e in errors] == ["store down"] * 3
    audit.fail = None
    commit.insert(Batch("coop", {"audit": cols(5)}))
    assert audit.calls == [cols(5)]


def test_tables_are_inserted_in_order_and_a_failure_stops_the_rest() -> None:
    audit, usage = Table(), Table()
    commit = GroupCommit({"audit": audit, "usage": usage})
    commit.insert(Batch("coop", {"usage": cols(7), "audit": cols(1)}))
    assert (audit.calls, usage.calls) == ([cols(1)], [cols(7)])
    audit.fail = RuntimeError("audit down")
    with pytest.raises(RuntimeError, match="audit down"):
        commit.insert(Batch("coop", {"audit": cols(2), "usage": cols(8)}))
    assert usage.calls == [cols(7)]  # not attempted after the audit insert failed


def test_a_merged_insert_is_bounded_in_rows() -> None:
    audit = Table()
    commit = GroupCommit({"audit": audit}, max_rows=3)
    errors: list[BaseException] = []
    threads = [start_held(commit, audit, errors)]
    for n in (1, 2, 3, 4):
        threads.append(run(commit, {"audit": cols(n, n)}, errors))
        wait_until(lambda n=n: len(commit._waiting) >= n, timeout=10, interval=0.005)
    audit.hold.set()
    for thread in threads:
        thread.join(10)
    assert not errors
    assert [len(c[0]) for c in audit.calls] == [1, 2, 2, 2, 2]  # two waiters of 2 rows exceed 3


def test_concurrent_batches_through_the_real_store_are_each_stored_once(store: Store) -> None:
    ingestor = Ingestor(Settings(), store)
    batches = [batch([wire(n * 100 + i, request_id=f"gc-{n}") for i in range(50)]) for n in range(6)]
    errors: list[BaseException] = []

    def ingest(b: dict[str, Any]) -> None:
        try:
            ingestor.ingest(b)
            ingestor.ingest(b)  # a redelivery, merged with whatever else is in flight
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ingest, args=(b,)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    rows = store.client.query(
        f"SELECT request_id, count() FROM {store.database}.audit_events FINAL GROUP BY request_id"
    ).result_rows
    assert sorted(rows) == [(f"gc-{n}", 50) for n in range(6)]
    assert ingestor.commits.inserts <= 12  # never more than one insert per call
