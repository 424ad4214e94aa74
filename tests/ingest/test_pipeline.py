"""Ingest into the real embedded engine: validation, enrichment, retention, idempotency, search."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from ccaudit.errors import IngestError
from ccaudit.ids import new_id
from ccaudit.ingest import Ingestor
from ccaudit.ingest.inprocess import inprocess_transport
from ccaudit.register import DEFAULT_REGISTER, Declaration
from ccaudit.settings import Settings
from ccaudit.shipping.recorder import Recorder
from ccaudit.store import Store
from ccaudit.store.audit import AuditQuery
from tests.conftest import days_ago_ms, iso_ms
from tests.shipping.test_recorder import event

# A day ago, on whole seconds: recent enough for every retention the tests declare, on any date.
T0 = days_ago_ms(1)


def wire(n: int, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "stream": "audit", "event_id": new_id(T0 + n), "event_time": T0 + n * 1000, "action": "http.POST",
        "outcome": "success", "actor_account_id": f"acct-{n % 3}", "organisation": "org-a", "status": 200,
        "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
        "client_ip": "192.0.2.7", "request_id": f"r-{n}",
    }  # fmt: skip
    base.update(fields)
    return base


def batch(events: list[dict[str, Any]], platform: str = "coop") -> dict[str, Any]:
    return {"schema_version": 1, "batch_id": new_id(), "platform": platform, "events": events}


@pytest.fixture
def ingestor(store: Store) -> Ingestor:
    audit = Declaration(purposes=("P2", "P3"), legal_basis="legitimate_interests", retention_days=730)
    register = DEFAULT_REGISTER.model_copy(
        update={"platforms": {"library": {"audit": audit.model_copy(update={"retention_days": 90})}}}
    )
    return Ingestor(Settings(processing_register=register), store)


def count(store: Store) -> int:
    return int(store.client.command(f"SELECT count() FROM {store.database}.audit_events FINAL"))


def test_stores_validated_enriched_rows(ingestor: Ingestor, store: Store) -> None:
    result = ingestor.ingest(batch([wire(1, details={"k": "v"})]))
    assert result.accepted == 1
    [row], _ = store.search_audit(AuditQuery())
    assert (row["browser"], row["os"], row["device"], row["is_bot"]) == ("Mobile Safari", "iOS", "mobile", False)
    assert row["platform"] == "coop"
    assert row["event_time"] == iso_ms(T0 + 1000)
    assert row["details"] == {"k": "v"}
    assert row["received_at"] > row["event_time"]


def test_the_engine_deletes_rows_past_their_platforms_retention_and_keeps_the_rest(
    ingestor: Ingestor, store: Store
) -> None:
    """coop keeps audit rows 730 days, library 90. Rows are aged inside the engine (copies with an
    older event time: the key cannot be updated), then the TTL runs on the engine's real clock."""
    ingestor.ingest(batch([wire(1, request_id="coop")], platform="coop"))
    ingestor.ingest(batch([wire(2, request_id="library")], platform="library"))
    rows = store.client.query(
        f"SELECT platform, retention_days FROM {store.database}.audit_events ORDER BY platform"
    ).result_rows
    assert rows == [("coop", 730), ("library", 90)]
    for days in (60, 120, 800):
        store.client.command(
            f"INSERT INTO {store.database}.audit_events SELECT * REPLACE (generateUUIDv7() AS event_id, "
            f"event_time - toIntervalDay({{d:UInt16}}) AS event_time, request_id || '-' || toString({{d:UInt16}}) "
            f"AS request_id) FROM (SELECT * FROM {store.database}.audit_events WHERE request_id IN ('coop', 'library'))",
            parameters={"d": days},
        )
    store.client.command(f"OPTIMIZE TABLE {store.database}.audit_events FINAL")
    kept = {r[0] for r in store.client.query(f"SELECT request_id FROM {store.database}.audit_events").result_rows}
    assert kept == {"coop", "coop-60", "coop-120", "library", "library-60"}


def test_streams_outside_the_register_are_refused(ingestor: Ingestor, store: Store) -> None:
    from tests.ingest.test_usage import view

    with pytest.raises(IngestError) as caught:
        ingestor.ingest(batch([wire(0), view("192.0.2.1", "UA")], platform="library"))  # no usage there
    assert caught.value.problems == [(1, "stream 'usage' is not in the processing register for 'library'")]
    assert count(store) == 0


def test_invalid_events_refuse_the_batch_naming_each_index(ingestor: Ingestor, store: Store) -> None:
    events = [wire(0), wire(1, outcome="great"), wire(2, surprise=True), wire(3, event_time="yesterday")]
    with pytest.raises(IngestError) as caught:
        ingestor.ingest(batch(events))
    assert [i for i, _ in caught.value.problems] == [1, 2, 3]
    assert "outcome" in caught.value.problems[0][1]
    assert "surprise" in caught.value.problems[1][1]
    assert count(store) == 0


@pytest.mark.parametrize(
    "bad",
    [
        {"schema_version": 2, "batch_id": new_id(), "platform": "p", "events": []},
        {"schema_version": 1, "batch_id": "x", "platform": "p", "events": []},
        {"schema_version": 1, "batch_id": new_id(), "platform": "Not Valid", "events": []},
        [],
        "text",
    ],
)
def test_bad_envelopes_are_refused(ingestor: Ingestor, bad: Any) -> None:
    with pytest.raises(IngestError):
        ingestor.ingest(bad)


def test_a_redelivered_event_is_stored_once_whatever_the_batching(ingestor: Ingestor, store: Store) -> None:
    events = [wire(n) for n in range(10)]
    ingestor.ingest(batch(events[:6]))
    ingestor.ingest(batch(events[4:]))  # overlaps 4 and 5, in a different grouping
    ingestor.ingest(batch(events[::-1]))  # everything again, reversed, one batch
    assert count(store) == 10
    found, _ = store.search_audit(AuditQuery(limit=100))
    assert sorted(r["request_id"] for r in found) == sorted(f"r-{n}" for n in range(10))


def test_search_filters_and_keyset_pagination(ingestor: Ingestor, store: Store) -> None:
    ingestor.ingest(batch([wire(n, outcome="denied" if n % 4 == 0 else "success") for n in range(25)]))
    seen: list[str] = []
    cursor = None
    while True:
        page, cursor = store.search_audit(AuditQuery(limit=7, cursor=cursor))
        seen += [r["request_id"] for r in page]
        if cursor is None:
            break
    assert seen == [f"r-{n}" for n in reversed(range(25))]  # newest first, each once
    denied, _ = store.search_audit(AuditQuery(outcome="denied", limit=100))
    assert {r["request_id"] for r in denied} == {f"r-{n}" for n in range(0, 25, 4)}
    mine, _ = store.search_audit(AuditQuery(actor="acct-1", limit=100))
    assert {r["actor_account_id"] for r in mine} == {"acct-1"}
    since = dt.datetime.fromtimestamp((T0 + 20_000) / 1000, dt.UTC)
    recent, _ = store.search_audit(AuditQuery(since=since, limit=100))
    assert len(recent) == 5


def test_in_process_transport_ships_through_the_same_pipeline(store: Store) -> None:
    settings = Settings(platform="solo", database=store.database)
    recorder = Recorder(inprocess_transport(settings, store), platform="solo", flush_interval=60)
    recorder.emit(event(1))
    assert recorder.force_flush(10)
    [row], _ = store.search_audit(AuditQuery(platform="solo"))
    assert row["request_id"] == "1"
    recorder.shutdown(5)


def test_details_hold_as_many_keys_on_the_wire_as_the_python_api_keeps(ingestor: Ingestor) -> None:
    from ccaudit.wire import MAX_DETAILS

    full = {f"k{n}": "v" for n in range(MAX_DETAILS)}
    assert ingestor.ingest(batch([wire(1, details=full)])).accepted == 1
    with pytest.raises(IngestError) as caught:
        ingestor.ingest(batch([wire(2, details={**full, "one-more": "v"})]))
    assert caught.value.problems[0][0] == 0
    assert "details" in caught.value.problems[0][1]
