"""The append-only trail, in the real engine: one event id is one row, its first payload stands.

Every stream is covered (audit, usage, consent), from the same platform and from another one; a
redelivery in any batching is stored once, and a materialized view over a data table counts each
event once (the replacing engines collapse duplicates only at merge time, too late for a view).
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ccaudit.errors import RewriteRefused
from ccaudit.ingest import Ingestor
from ccaudit.ingest.ledger import ERASED
from ccaudit.register import DEFAULT_REGISTER
from ccaudit.settings import Settings
from ccaudit.store import Store
from tests.consent.test_receipts import consent_wire
from tests.ingest.test_pipeline import batch, wire
from tests.ingest.test_usage import CHROME, view

TABLES = {"audit": "audit_events", "usage": "usage_events", "consent": "consent_receipts"}


@pytest.fixture
def ingestor(store: Store) -> Ingestor:
    register = DEFAULT_REGISTER.model_copy(update={"platforms": {"other": DEFAULT_REGISTER.default}})
    return Ingestor(Settings(processing_register=register), store)


def an_event(stream: str, n: int) -> dict[str, Any]:
    if stream == "audit":
        return wire(n, details={"field": "name", "count": "2"})
    if stream == "usage":
        return view(f"203.0.113.{n}", CHROME, page=f"/p/{n}")
    return consent_wire(str(uuid.uuid4()), n)


def changed(stream: str, event: dict[str, Any]) -> dict[str, Any]:
    """The same event id with other content, as an attacker or a broken platform would send it."""
    field, value = {"audit": ("actor_account_id", "mallory"), "usage": ("page", "/other"),
                    "consent": ("account_id", "mallory")}[stream]  # fmt: skip
    return {**event, field: value}


def rows(store: Store, stream: str, event_id: str) -> list[dict[str, Any]]:
    # No FINAL: every physical row counts, as a view would count it.
    result = store.client.query(
        f"SELECT * FROM {store.database}.{TABLES[stream]} WHERE event_id = {{id:UUID}}", parameters={"id": event_id}
    )
    return [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]


@pytest.mark.parametrize("stream", sorted(TABLES))
@pytest.mark.parametrize("sender", ["coop", "other"])
def test_a_stored_event_is_never_rewritten_and_the_attempt_is_recorded(
    ingestor: Ingestor, store: Store, stream: str, sender: str
) -> None:
    first = an_event(stream, 1)
    neighbour = an_event(stream, 2)
    ingestor.ingest(batch([first]))
    before = rows(store, stream, first["event_id"])
    attempt = changed(stream, first) if sender == "coop" else first  # another platform: even the same content
    with pytest.raises(RewriteRefused) as refused:
        ingestor.ingest(batch([neighbour, attempt], platform=sender))
    assert refused.value.problems == [(1, refused.value.problems[0][1])]
    assert "never rewritten" in refused.value.problems[0][1]
    store.client.command(f"OPTIMIZE TABLE {store.database}.{TABLES[stream]} FINAL")
    assert rows(store, stream, first["event_id"]) == before  # the first write stands, after a merge too
    assert rows(store, stream, neighbour["event_id"]) == []  # the refused batch stored nothing
    [security] = ingestor.ledger.security_events()
    assert (str(security["event_id"]), security["platform"], security["stream"]) == (first["event_id"], sender, stream)
    assert security["kind"] == ("rewrite" if sender == "coop" else "rewrite_other_platform")
    assert security["stored_platform"] == "coop"
    assert security["stored_sha256"] != security["sent_sha256"]


@pytest.mark.parametrize("stream", sorted(TABLES))
def test_a_redelivery_in_any_batching_and_spelling_is_acknowledged_and_stored_once(
    ingestor: Ingestor, store: Store, stream: str
) -> None:
    events = [an_event(stream, n) for n in range(4)]
    ingestor.ingest(batch(events[:2]))
    # The same events again: re-batched, reordered, one twice in a batch, the time spelt as ISO with
    # an offset instead of epoch milliseconds, the details' keys in another order.
    moved = dict(events[1])
    when = datetime.fromtimestamp(moved["event_time"] / 1000, UTC).astimezone(timezone_plus_one())
    moved["event_time"] = when.isoformat(timespec="milliseconds")
    if "details" in moved:
        moved["details"] = dict(reversed(moved["details"].items()))
    assert ingestor.ingest(batch([events[3], moved, events[0], events[0]])).accepted == 4
    assert ingestor.ingest(batch([events[2], events[3]])).accepted == 2
    for event in events:
        assert len(rows(store, stream, event["event_id"])) == 1, event["event_id"]
    assert ingestor.ledger.security_events() == []


def timezone_plus_one() -> Any:
    from datetime import timezone

    return timezone(timedelta(hours=1))


def test_an_erased_events_redelivery_is_acknowledged_not_stored_and_not_a_security_event(
    ingestor: Ingestor, store: Store
) -> None:
    event = wire(1)
    ingestor.ingest(batch([event]))
    # What subject-rights work does: the row goes, its ledger entry stays, marked erased.
    store.client.command(f"DELETE FROM {store.database}.audit_events WHERE event_id = {{id:UUID}}",
                         parameters={"id": event["event_id"]})  # fmt: skip
    store.client.command(
        f"ALTER TABLE {store.database}.event_ids UPDATE payload_sha256 = {{e:String}} WHERE event_id = {{id:UUID}} "
        "SETTINGS mutations_sync = 1",
        parameters={"e": ERASED, "id": event["event_id"]},
    )
    assert ingestor.ingest(batch([event])).accepted == 1
    assert rows(store, "audit", event["event_id"]) == []
    assert ingestor.ledger.security_events() == []


def test_a_view_over_the_trail_counts_each_event_once(ingestor: Ingestor, store: Store) -> None:
    """Concurrent batches that share events, redeliveries and re-batching, into a table with a view on it."""
    db = store.database
    store.client.command(
        f"CREATE TABLE {db}.per_action (action String, n UInt64) ENGINE = SummingMergeTree ORDER BY action"
    )
    store.client.command(
        f"CREATE MATERIALIZED VIEW {db}.per_action_mv TO {db}.per_action AS "
        f"SELECT action, count() AS n FROM {db}.audit_events GROUP BY action"
    )
    events = [wire(n, action=f"act.{n % 3}") for n in range(60)]
    start = threading.Barrier(6)
    errors: list[BaseException] = []

    def send(offset: int) -> None:
        start.wait()
        try:
            for size in (7, 13, 60):  # each thread re-batches all events its own way
                rotated = events[offset:] + events[:offset]
                for i in range(0, len(rotated), size):
                    ingestor.ingest(batch(rotated[i : i + size]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(k * 10,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    counted = dict(store.client.query(f"SELECT action, sum(n) FROM {db}.per_action GROUP BY action").result_rows)
    assert counted == {"act.0": 20, "act.1": 20, "act.2": 20}
    physical = store.client.command(f"SELECT count() FROM {db}.audit_events")
    assert int(physical) == 60
