"""The learning stream through the real ingest pipeline into the real engine."""

from __future__ import annotations

from typing import Any

import pytest

from ccaudit.errors import IngestError, RewriteRefused
from ccaudit.ingest import Ingestor
from ccaudit.register import DEFAULT_REGISTER
from ccaudit.settings import Settings
from ccaudit.store import Store
from tests.ingest.test_pipeline import batch
from tests.learning.events import learning


@pytest.fixture
def ingestor(store: Store) -> Ingestor:
    # "shop" declares no learning stream: its learning events are refused.
    shop = {k: v for k, v in DEFAULT_REGISTER.default.items() if k != "learning"}
    register = DEFAULT_REGISTER.model_copy(update={"platforms": {"shop": shop}})
    return Ingestor(Settings(processing_register=register), store)


def rows(store: Store) -> list[dict[str, Any]]:
    # No FINAL: every physical row counts, as the state's view counts it.
    result = store.client.query(f"SELECT * FROM {store.database}.learning_events ORDER BY event_time")
    return [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]


def test_learning_events_are_stored_with_their_fields_and_retention(ingestor: Ingestor, store: Store) -> None:
    sent = [learning("registered", 0, lesson=""), learning("progressed", 1, progress=40, duration_ms=900.0),
            learning("passed", 2, score=0.75), learning("waived", 3, lesson="l2", reason="prior course")]  # fmt: skip
    assert ingestor.ingest(batch(sent)).accepted == 4
    stored = rows(store)
    assert [r["verb"] for r in stored] == ["registered", "progressed", "passed", "waived"]
    assert (stored[1]["progress"], stored[1]["duration_ms"], stored[1]["score"]) == (40, 900.0, None)
    assert stored[2]["score"] == 0.75
    assert stored[3]["reason"] == "prior course"
    assert {r["retention_days"] for r in stored} == {730}
    assert {(r["learner"], r["organisation"], r["module"], r["profession"]) for r in stored} == {
        ("learner-1", "org-a", "m1", "teacher")
    }
    ledger = store.client.query(f"SELECT stream, count() FROM {store.database}.event_ids GROUP BY stream").result_rows
    assert ledger == [("learning", 4)]


def test_a_resent_event_is_acknowledged_and_stored_once(ingestor: Ingestor, store: Store) -> None:
    event = learning("completed", 1)
    ingestor.ingest(batch([event]))
    assert ingestor.ingest(batch([event, learning("terminated", 2)])).accepted == 2
    assert [r["verb"] for r in rows(store)] == ["completed", "terminated"]


def test_a_rewrite_of_a_stored_event_is_refused(ingestor: Ingestor, store: Store) -> None:
    event = learning("passed", 1, score=0.5)
    ingestor.ingest(batch([event]))
    with pytest.raises(RewriteRefused):
        ingestor.ingest(batch([{**event, "score": 1.0}]))
    assert [r["score"] for r in rows(store)] == [0.5]


def test_a_bad_event_refuses_the_batch_naming_the_field(ingestor: Ingestor, store: Store) -> None:
    with pytest.raises(IngestError) as refused:
        ingestor.ingest(batch([learning("completed", 1), learning("completed", 2, score=0.9)]))
    [(index, reason)] = refused.value.problems
    assert index == 1
    assert "score" in reason
    assert rows(store) == []


def test_a_platform_without_the_stream_in_its_register_is_refused(ingestor: Ingestor, store: Store) -> None:
    with pytest.raises(IngestError) as refused:
        ingestor.ingest(batch([learning("completed", 1)], platform="shop"))
    assert "learning" in refused.value.problems[0][1]
    assert rows(store) == []
