"""The wire format is strict, and an acknowledged event is one the store keeps for its retention.

Each class of bad input from the outside probe, with the examples it found and their neighbours:
numbers JSON cannot carry back out (infinities), times outside the engine's range or outside the
stream's retention or ahead of the clock, and values of the wrong JSON type that a lenient parser
would coerce.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccaudit.errors import IngestError
from ccaudit.ingest import Ingestor
from ccaudit.ingest.pipeline import MAX_AHEAD
from ccaudit.settings import Settings
from ccaudit.store import Store
from tests.consent.test_receipts import consent_wire
from tests.ingest.test_pipeline import batch, wire
from tests.ingest.test_usage import CHROME, view

DAY_MS = 86_400_000


@pytest.fixture
def ingestor(store: Store) -> Ingestor:
    return Ingestor(Settings(), store)


def refused(ingestor: Ingestor, body: dict[str, Any]) -> list[tuple[int | None, str]]:
    """The problems of a refused batch, through the JSON bytes as the service gets them."""
    with pytest.raises(IngestError) as caught:
        ingestor.ingest_json(orjson.dumps(body))
    return caught.value.problems


def refusal(ingestor: Ingestor, body: bytes) -> str:
    """Why ``body`` was refused: an invalid first event (IngestError), or JSON the decoder refuses
    (an infinite number: the service answers 400 "malformed JSON" for it)."""
    with pytest.raises((IngestError, ValueError)) as caught:
        ingestor.ingest_json(body)
    if isinstance(caught.value, IngestError):
        [(index, reason)] = caught.value.problems
        assert index == 0
        return reason
    return str(caught.value)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def raw(body: dict[str, Any], field: str, json_text: str) -> bytes:
    """``body`` with the value of ``field`` written as ``json_text``: numbers a JSON encoder cannot
    write (1e400, 10**30) reach the service as a hostile client sends them."""
    return orjson.dumps(body).replace(f'"{field}":"@@"'.encode(), f'"{field}":{json_text}'.encode())


@pytest.mark.parametrize(
    "event_time",
    [
        '"9999-12-31T23:59:59Z"', '"2299-06-01T00:00:00Z"', '"2300-01-01T00:00:00+00:00"',
        '"0001-01-01T00:00:00+01:00"', "0", "-1000", "253402300799000", "-62135596800000", "1" + "0" * 30, "1e400",
    ],
    ids=["year-9999", "year-2299", "year-2300", "year-1", "epoch-0", "before-epoch", "max-ms", "min-ms", "huge",
         "infinite"],
)  # fmt: skip
def test_times_beyond_the_engine_or_the_retention_are_refused_naming_the_window(
    ingestor: Ingestor, store: Store, event_time: str
) -> None:
    reason = refusal(ingestor, raw(batch([wire(1, event_time="@@")]), "event_time", event_time))
    assert "event_time" in reason or "infinity" in reason
    if "outside the accepted window" in reason:
        assert "730 days" in reason
    assert int(store.client.command(f"SELECT count() FROM {store.database}.audit_events")) == 0


@pytest.mark.parametrize(
    ("offset_ms", "stored"),
    [
        (-(730 * DAY_MS) + 2 * 3_600_000, True),  # inside the retention, with more than an hour left
        (-(730 * DAY_MS) + 1_000, False),  # would be deleted by the TTL within the hour
        (-(731 * DAY_MS), False),
        (MAX_AHEAD // timedelta(milliseconds=1) - 60_000, True),  # a skewed clock
        (MAX_AHEAD // timedelta(milliseconds=1) + 60_000, False),
    ],
)
def test_the_window_of_accepted_times_follows_the_retention_and_the_clock(
    ingestor: Ingestor, offset_ms: int, stored: bool
) -> None:
    body = batch([wire(1, event_time=now_ms() + offset_ms)])
    if stored:
        assert ingestor.ingest_json(orjson.dumps(body)).accepted == 1
    else:
        assert "outside the accepted window" in refused(ingestor, body)[0][1]


def test_each_stream_has_its_own_window(store: Store) -> None:
    from ccaudit.register import DEFAULT_REGISTER

    short = DEFAULT_REGISTER.default["usage"].model_copy(update={"retention_days": 30})
    register = DEFAULT_REGISTER.model_copy(update={"default": {**DEFAULT_REGISTER.default, "usage": short}})
    ingestor = Ingestor(Settings(processing_register=register), store)
    forty_days_ago = datetime.now(UTC) - timedelta(days=40)
    assert ingestor.ingest(batch([wire(1, event_time=int(forty_days_ago.timestamp() * 1000))])).accepted == 1
    problems = refused(ingestor, batch([view("203.0.113.1", CHROME, when=forty_days_ago)]))
    assert "the usage stream keeps 30 days" in problems[0][1]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("duration_ms", "1e400"), ("duration_ms", "-1e400"), ("duration_ms", "-1.0"), ("duration_ms", "1e12"),
        ("status", '"200"'), ("status", "200.0"), ("status", "true"), ("admin_operation", '"yes"'),
        # fixed date: refused for its type, on any day
        ("admin_operation", "1"), ("event_time", '"1764410000000"'), ("event_time", "1764410000000.5"),
        # fixed date: refused for its missing offset, on any day
        ("event_time", "true"), ("event_time", '"2026-11-29T09:53:21"'), ("event_id", "12"), ("action", "5"),
        ("details", '{"k": 5}'), ("details", '["k", "v"]'),
    ],
)  # fmt: skip
def test_values_of_the_wrong_kind_are_refused_not_coerced(ingestor: Ingestor, field: str, value: str) -> None:
    reason = refusal(ingestor, raw(batch([wire(1, **{field: "@@"})]), field, value))
    assert field in reason or "infinity" in reason


@pytest.mark.parametrize("version", ["true", "1.0", '"1"', "2", "0"])
def test_the_schema_version_is_the_integer_1(ingestor: Ingestor, version: str) -> None:
    body = orjson.dumps(batch([wire(1)])).replace(b'"schema_version":1', b'"schema_version":' + version.encode())
    with pytest.raises(IngestError) as caught:
        ingestor.ingest_json(body)
    assert "schema_version" in caught.value.problems[0][1]


_NUMBERS = (
    st.integers(min_value=-(10**40), max_value=10**40).map(str)
    | st.floats(allow_nan=False, allow_infinity=False).map(repr)
    | st.sampled_from(["1e400", "-1e400", "1e-400", "-0.0", "1E308", "9" * 400])
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(duration=_NUMBERS, when=_NUMBERS)
def test_any_number_as_a_time_or_a_duration_is_refused_or_reads_back_as_json(
    ingestor: Ingestor, store: Store, duration: str, when: str
) -> None:
    """No number poisons a read: whatever is accepted is finite, in the window, and reads back."""
    from ccaudit.store.audit import AuditQuery

    event = wire(1, request_id=f"n-{duration}-{when}"[:200], duration_ms="@@")
    body = raw(batch([event]), "duration_ms", duration)
    if when != "0":
        body = body.replace(f'"event_time":{event["event_time"]}'.encode(), f'"event_time":{when}'.encode())
    try:
        ingestor.ingest_json(body)
    except (IngestError, ValueError):
        return
    rows, _ = store.search_audit(AuditQuery(limit=1000))
    orjson.dumps(rows)  # every stored value can be written out again


def test_consent_and_usage_events_are_strict_too(ingestor: Ingestor) -> None:
    problems = refused(ingestor, batch([consent_wire("0b9f3c1e-5a3d-4c1b-9a7e-3f2d1c0b9a8e", 1, gpc="true")]))
    assert "gpc" in problems[0][1]
    problems = refused(ingestor, batch([view("203.0.113.1", CHROME, admin_area=0)]))
    assert "admin_area" in problems[0][1]
