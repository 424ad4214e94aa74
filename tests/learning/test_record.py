"""record_learning from platform code: request-correlated, kept durably before the response starts,
shipped by the recorder and stored by the service like every event."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from ccaudit import CaptureMiddleware, Identity, Settings, record_learning
from ccaudit.ingest.inprocess import inprocess_transport
from ccaudit.shipping.recorder import Recorder
from ccaudit.shipping.spool import Spool
from ccaudit.store import Store
from ccaudit.store.learning import learner_state
from tests.capture.test_durable_default import Seen, Syncs, actor
from tests.capture.test_durable_routes import Down
from tests.conftest import settings_for_tests
from tests.faults.harness import spooled_events


async def lesson_done(scope: Any, receive: Any, send: Any) -> None:
    record_learning("completed", learner="alice", module="m1", lesson="l1", profession="teacher", duration_ms=900.0)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b"{}"})


def test_a_learning_event_is_in_the_spool_before_the_response_with_the_request_id(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite3", max_events=50)
    recorder = Syncs(Down(), platform="test", spool=spool, flush_interval=60)
    try:
        app = CaptureMiddleware(lesson_done, settings_for_tests(), resolver=actor, recorder=recorder)
        seen = Seen(app, spool, "GET", "/lessons/l1/done", "r-learn-1")  # a GET: no audit event, the learning one
        assert seen.spooled_at_start == ["r-learn-1"]
        [event] = spooled_events(spool.path)
        assert event["stream"] == "learning"
        assert (event["verb"], event["learner"], event["module"], event["lesson"]) == ("completed", "alice", "m1", "l1")
        assert event["organisation"] == "org-1"  # the actor's, as record_learning named none
        assert event["duration_ms"] == 900.0
        assert "score" not in event
        recorder.force_flush(0.2)
        assert len(spooled_events(spool.path)) == 1  # not written again at the end of the request
    finally:
        recorder.shutdown(1)
        spool.close()


def test_outside_a_request_nothing_is_recorded() -> None:
    assert record_learning("completed", learner="a", module="m") is False


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [({"verb": "completed", "score": 0.5}, "score"), ({"verb": "progressed"}, "progress"),
     ({"verb": "waived"}, "reason"), ({"verb": "progressed", "progress": 120}, "progress"),
     ({"verb": "passed", "score": 2.0}, "score"), ({"verb": "launched"}, "verb")],
)  # fmt: skip
def test_a_call_the_wire_would_refuse_raises_at_once_naming_the_field(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        record_learning(learner="a", module="m", **kwargs)


def test_recorded_learning_reaches_the_state(store: Store) -> None:
    settings = Settings(platform="learn", database=store.database)
    recorder = Recorder(inprocess_transport(settings, store), platform="learn", flush_interval=60)
    app = CaptureMiddleware(
        lesson_done, settings, resolver=lambda scope: Identity(account_id="alice", organisation="org-9"),
        recorder=recorder,
    )  # fmt: skip

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        pass

    scope = {"type": "http", "method": "GET", "path": "/lessons/l1/done", "root_path": "", "query_string": b"",
             "headers": [(b"x-request-id", b"r-77")], "client": ("192.0.2.1", 1)}  # fmt: skip
    asyncio.run(app(scope, receive, send))
    assert recorder.force_flush(10)
    recorder.shutdown(5)
    [state] = learner_state(store.client, store.database, "learn", "alice")
    assert (state.module, state.lesson, state.best_progress, state.organisation) == ("m1", "l1", 100, "org-9")
    assert state.completed_event is not None
    [[request_id]] = store.client.query(f"SELECT request_id FROM {store.database}.learning_events").result_rows
    assert request_id == "r-77"
