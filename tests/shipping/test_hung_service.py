"""A service that accepts connections and never answers must never delay making an audit event durable.

The transport's timeout here is far longer than the test's waits: a spool writer that waited on a
send would not write anything before the test gave up.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccaudit.events import UsageEvent
from ccaudit.ids import new_id
from ccaudit.shipping.recorder import Recorder
from ccaudit.shipping.spool import Spool
from ccaudit.shipping.transport import HttpTransport
from tests.conftest import wait_until
from tests.shipping.hanging import HangingService
from tests.shipping.test_recorder import event

NEVER = 300.0  # seconds: the send timeout, longer than any wait in this test


@pytest.fixture
def hung() -> Iterator[HangingService]:
    service = HangingService()
    yield service
    service.close()


def page_view(n: int) -> UsageEvent:
    now = time.time_ns() // 1_000_000
    return UsageEvent(new_id(), now, "/page", False, "", "Mozilla/5.0", "192.0.2.1")


def test_events_waiting_in_memory_reach_the_spool_while_every_send_hangs(hung: HangingService, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite3")
    recorder = Recorder(HttpTransport(hung.url, timeout=NEVER), platform="p", spool=spool, flush_interval=0.05)
    try:
        # Page views first: each flush has some to send, as on a public platform.
        for round_ in range(6):
            for n in range(20):
                recorder.emit(page_view(n))
            for n in range(100):
                recorder.emit(event(round_ * 100 + n))
            time.sleep(0.1)
        wait_until(lambda: hung.accepted >= 1, timeout=20)  # a send is hanging on the service
        wait_until(lambda: spool.depth() == 600, timeout=20)  # and all 600 audit events are on disk
        stats = recorder.stats()
        assert stats["spooled"] == 600
        assert stats["shipped"] == 0
    finally:
        # Bounded although the shippers are stuck in their sends; memory holds no audit event.
        assert recorder.shutdown(1)
        spool.close()


def test_kept_events_never_wait_for_a_hanging_send(hung: HangingService, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite3")
    recorder = Recorder(HttpTransport(hung.url, timeout=NEVER), platform="p", spool=spool, flush_interval=0.05)
    try:
        assert recorder.keep([event(0)])
        wait_until(lambda: hung.accepted >= 1, timeout=20)
        for n in range(1, 200):
            assert recorder.keep([event(n)])  # on disk when it returns, a send hanging meanwhile
            recorder.emit(page_view(n))
        assert spool.depth() == 200
    finally:
        assert recorder.shutdown(1)
        spool.close()
