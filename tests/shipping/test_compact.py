"""The compact form the request path journals events in: every kind of event is registered, and what
the service receives after folding is exactly the event's wire object."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from ccaudit.events import AuditEvent, ConsentEvent, Event, UsageEvent, compact, expand
from ccaudit.shipping.recorder import journal_entry
from ccaudit.shipping.spool import ROW_BYTES, Spool

text = st.text(max_size=40)
names = st.tuples(text, text).map(tuple)
numbers = st.floats(min_value=0, max_value=86_400_000, allow_nan=False)
times = st.integers(min_value=0, max_value=2**41)


def fields(kind: Any, **typed: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``kind`` with text in every field but those given."""
    return st.builds(kind, **{**dict.fromkeys(kind._fields, text), "event_time_ms": times, **typed})


audit = fields(
    AuditEvent,
    admin_operation=st.booleans(),
    status=st.integers(100, 599),
    duration_ms=numbers,
    details=st.dictionaries(text, text, max_size=4),
)
usage = fields(UsageEvent, admin_area=st.booleans())
consent = fields(
    ConsentEvent,
    categories_accepted=names,
    categories_rejected=names,
    services_accepted=names,
    services_rejected=names,
    policy_revision=st.integers(0, 2**31),
    gpc=st.booleans(),
    dnt=st.booleans(),
)
events = st.one_of(audit, usage, consent)


def wire(event: Event) -> Any:
    return json.loads(orjson.dumps(event.to_wire()))


def test_every_kind_of_event_has_a_compact_form() -> None:
    for kind in get_args(Event):
        assert len(compact(kind._make([""] * len(kind._fields)))) == len(kind._fields) + 1


@given(events)
def test_expanding_the_compact_form_gives_the_wire_object(event: Event) -> None:
    assert expand(orjson.loads(orjson.dumps(compact(event)))) == wire(event)


@settings(max_examples=25, deadline=None)
@given(st.lists(events, min_size=1, max_size=5))
def test_kept_events_reach_the_spools_batches_as_their_wire_objects(tmp_path_factory: Any, kept: list[Event]) -> None:
    folder: Path = tmp_path_factory.mktemp("spool")
    spool = Spool(folder / "s.sqlite3")
    try:
        spool.write([journal_entry(kept)])  # as ``Recorder.keep`` does, without its shipping threads
        batches = spool.claim(100_000, 60)
        assert [e for b in batches for e in json.loads(b.body)] == [wire(e) for e in kept]
    finally:
        spool.close()


def test_events_too_large_for_one_compact_line_are_kept_in_rows_a_batch_can_hold(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3")
    big = [UsageEvent(str(n), 0, "p" * (ROW_BYTES // 3), False, "", "", "") for n in range(4)]
    try:
        spool.write([journal_entry(big)])
        batches = spool.claim(100_000, 60)
        assert len(batches) > 1  # more than one row: none above the service's limits
        assert [e["event_id"] for b in batches for e in json.loads(b.body)] == ["0", "1", "2", "3"]
    finally:
        spool.close()
