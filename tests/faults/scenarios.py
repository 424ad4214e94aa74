"""The fault scenarios, shared by ``tests/faults/test_faults.py`` and ``make faults``.

Each takes a fresh folder, runs real processes (``ccaudit serve``, the platform of ``app.py`` under
uvicorn, the ClickHouse HTTP test server), does its damage under load, and returns an ``Outcome``.
A scenario raises AssertionError when the fault was not actually exercised (e.g. no 503 seen), so a
green result always means the fault happened and nothing was lost or doubled.
"""

from __future__ import annotations

import gzip
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from ccaudit.events import AuditEvent
from ccaudit.ids import new_id
from ccaudit.shipping.recorder import Recorder
from ccaudit.shipping.spool import Spool
from ccaudit.shipping.transport import HttpTransport
from tests.chhttp.fixtures import start_clickhouse_server
from tests.conftest import wait_until
from tests.faults.harness import (
    Load,
    Outcome,
    PlatformProcess,
    ServiceProcess,
    spooled_request_ids,
    storage_counts,
    stored_request_ids,
    tally,
    wait_stored,
)

DELIVERY_TIMEOUT = 60.0  # seconds for everything to arrive once the fault is over (backoff ≤ 30 s)


def service_down(folder: Path) -> Outcome:
    """The service stops (SIGTERM) for a few seconds under load and starts again on the same data
    folder. The platform keeps answering and spooling meanwhile; its shipper retries with backoff."""
    name, platform = "service-down", "faults-a"
    service = ServiceProcess(folder / "service")
    api = service.start()
    app = PlatformProcess(folder / "platform", service, platform, CCAUDIT_FLUSH_INTERVAL="0.1")
    app.start()
    try:
        with Load(app.url, "a") as load:
            load.run_for(1.5)
            service.stop()
            during = load.run_for(3.0)
            assert during > 0, "the platform stopped answering while the service was down"
            depth = len(spooled_request_ids(app.spool_path))
            assert depth > 0, "nothing waited in the spool while the service was down"
            service.start()
            load.run_for(1.0)
        answers = load.answered()
        sent = set(load.acked)
        found = wait_stored(api, platform, sent, DELIVERY_TIMEOUT)
    finally:
        app.stop()
        service.stop()
    notes = [f"acknowledged while down={during}", f"spool depth during the outage={depth}", answers]
    return tally(name, sent, found, storage_counts(service.dsn, platform), notes)


def platform_killed(folder: Path) -> Outcome:
    """The platform process is SIGKILLed mid-load and started again on the same spool file, with the
    default settings: every request it acknowledged has its audit event stored, once.

    What the spool had accepted at the kill is read afterwards, without help from the dead process:
    the rows still in the spool file (waiting, or dead-lettered) plus the events the store already
    has (those were acknowledged by the service and deleted from the spool). Nothing changes that
    union after the kill: an insert the service finishes later holds rows that are still in the
    spool, because the dead process never deleted them.

    ``sent`` is that accepted set (including events whose HTTP answer the client never saw because
    the kill came first), every request acknowledged before the kill, and the requests acknowledged
    after the restart. An acknowledged request missing from the spool at the kill (``window lost``)
    is counted as lost: events are on disk before the response by default.
    """
    name, platform = "platform-killed", "faults-b"
    service = ServiceProcess(folder / "service")
    api = service.start()
    app = PlatformProcess(folder / "platform", service, platform)
    app.start()
    try:
        with Load(app.url, "b") as before:
            before.run_for(1.5)
            # The service stalls (SIGSTOP) first, so that at the kill the spool holds events, some
            # of them claimed by the shipper for a batch the service may still store once resumed.
            service.pause()
            before.run_for(1.2)
            app.kill()
            service.resume()
        answers_before = before.answered()  # the requests cut off by the kill got no answer
        acked_before = set(before.acked)
        in_spool = spooled_request_ids(app.spool_path)
        accepted = in_spool | set(stored_request_ids(api, platform))
        assert in_spool, "the spool held nothing at the kill"
        window = acked_before - accepted
        app.start()
        with Load(app.url, "b2") as after:
            after.run_for(1.0)
        answers_after = after.answered()
        sent = accepted | acked_before | set(after.acked)
        found = wait_stored(api, platform, sent, DELIVERY_TIMEOUT)
    finally:
        service.resume()
        app.stop()
        service.stop()
    notes = [
        f"window lost={len(window)} of {len(acked_before)} acknowledged",
        f"in the spool at the kill={len(in_spool)}",
        f"before the kill: {answers_before}",
        f"after the restart: {answers_after}",
    ]
    return tally(name, sent, found, storage_counts(service.dsn, platform), notes)


def workers_killed(folder: Path) -> Outcome:
    """A pre-fork platform (gunicorn, three workers writing one spool file, the default settings) is
    SIGKILLed whole, master and workers, under audited traffic from several clients, then started
    again on the same spool: every request it acknowledged has its audit event stored, once.

    The service stalls (SIGSTOP) for a while before the kill, so that the spool holds events at the
    kill, some of them claimed by a shipper for a batch the service may still store once resumed.
    Requests the kill cut off (no answer) may or may not be stored: they were never acknowledged.
    """
    name, platform = "workers-killed", "faults-e"
    service = ServiceProcess(folder / "service")
    api = service.start()
    app = PlatformProcess(folder / "platform", service, platform, workers=3)
    app.start()
    try:
        with Load(app.url, "e", threads=4) as before:
            before.run_for(1.5)
            service.pause()
            before.run_for(1.0)
            killed = app.kill()
            service.resume()
        answers_before = before.answered()
        acked_before = set(before.acked)
        in_spool = spooled_request_ids(app.spool_path)
        assert in_spool, "the spool held nothing at the kill"
        window = acked_before - in_spool - set(stored_request_ids(api, platform))
        app.start()
        with Load(app.url, "e2", threads=4) as after:
            after.run_for(1.0)
        answers_after = after.answered()
        sent = acked_before | set(after.acked)
        found = wait_stored(api, platform, sent, DELIVERY_TIMEOUT)
    finally:
        service.resume()
        app.stop()
        service.stop()
    notes = [
        f"processes killed={killed}",
        f"acknowledged but neither in the spool nor stored at the kill={len(window)} of {len(acked_before)}",
        f"in the spool at the kill={len(in_spool)}",
        f"before the kill: {answers_before}",
        f"after the restart: {answers_after}",
    ]
    return tally(name, sent, found, storage_counts(service.dsn, platform), notes)


def clickhouse_killed(folder: Path) -> Outcome:
    """The service runs against the ClickHouse HTTP test server, which is SIGKILLed under load and
    started again on the same folder. The service must answer 503 (with Retry-After) meanwhile; a
    probe client that behaves like a platform (retry on 503 after Retry-After) sends events too."""
    name, platform = "clickhouse-killed", "faults-c"
    (folder / "clickhouse").mkdir()
    clickhouse = start_clickhouse_server(folder / "clickhouse")
    service = ServiceProcess(folder / "service", CCAUDIT_DSN=clickhouse.url)
    api = service.start()
    app = PlatformProcess(folder / "platform", service, platform, CCAUDIT_FLUSH_INTERVAL="0.1")
    app.start()
    probe = _Probe(api.url, api.ingest_token(platform), platform)
    try:
        with Load(app.url, "c") as load:
            load.run_for(1.5)
            assert probe.send_until_stored(timeout=10) == 1
            clickhouse.kill()
            probe_id = probe.start()
            wait_until(lambda: probe.refusals > 0, timeout=20)  # the service answers 503 while ClickHouse is down
            during = load.run_for(2.0)
            assert during > 0, "the platform stopped answering while ClickHouse was down"
            clickhouse.start()
            assert probe.finish(probe_id, timeout=30), "the probe's event was never accepted"
            load.run_for(1.0)
        answers = load.answered()
        sent = set(load.acked) | probe.stored
        found = wait_stored(api, platform, sent, DELIVERY_TIMEOUT)
        storage = storage_counts(clickhouse.url, platform)
        refused = service.ingest_counters()["store_errors"]
    finally:
        app.stop()
        service.stop()
        clickhouse.stop()
    assert refused > 0
    notes = [f"503 answers seen by the probe={probe.refusals}", f"service store errors={refused}",
             f"acknowledged while ClickHouse was down={during}", answers]  # fmt: skip
    return tally(name, sent, found, storage, notes)


class _Probe:
    """A minimal client of the ingest API: one event at a time, resent after a 503's Retry-After."""

    def __init__(self, url: str, token: str, platform: str) -> None:
        self.url = url + "/v1/events"
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.platform = platform
        self.refusals = 0
        self.stored: set[str] = set()
        self._pending: dict[str, dict[str, Any]] = {}

    def start(self) -> str:
        request_id = f"probe-{new_id()}"
        self._pending[request_id] = _wire(request_id)
        self._try(request_id)
        return request_id

    def _try(self, request_id: str) -> float | None:
        """Send once: None when stored, else the seconds to wait."""
        body = {"schema_version": 1, "batch_id": new_id(), "platform": self.platform,
                "events": [self._pending[request_id]]}  # fmt: skip
        try:
            response = httpx.post(self.url, content=json.dumps(body), headers=self.headers, timeout=15)
        except httpx.TransportError:
            return 0.5
        if response.status_code == 200:
            self.stored.add(request_id)
            return None
        assert response.status_code == 503, response.text
        assert response.headers.get("Retry-After"), "a 503 without Retry-After"
        self.refusals += 1
        return min(float(response.headers["Retry-After"]), 1.0)  # the probe may be more eager than asked

    def finish(self, request_id: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while request_id not in self.stored and time.monotonic() < deadline:
            wait = self._try(request_id)
            if wait is not None:
                time.sleep(wait)
        return request_id in self.stored

    def send_until_stored(self, timeout: float) -> int:
        request_id = self.start()
        return int(self.finish(request_id, timeout))


def _wire(request_id: str) -> dict[str, Any]:
    return {
        "stream": "audit", "event_id": new_id(), "event_time": time.time_ns() // 1_000_000, "action": "http.POST",
        "outcome": "success", "organisation": "org-faults", "actor_account_id": "faults-admin", "status": 201,
        "route": "/admin/items", "method": "POST", "admin_operation": True, "request_id": request_id,
    }  # fmt: skip


class _Keeping(HttpTransport):
    """The HTTP transport, keeping each batch the service acknowledged (as sent, before gzip)."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(url, token=token)
        self.batches: list[bytes] = []

    def send(self, payload: bytes) -> None:
        super().send(payload)
        self.batches.append(payload)


def replay(folder: Path) -> Outcome:
    """A recorder (with its spool) ships audit events to the service; then the very batches it sent
    are POSTed again, and again regrouped as a restarted spool would (new batch ids; events split,
    merged, reordered, overlapping). Every POST is acknowledged; every event is still stored once."""
    name, platform = "replay", "faults-d"
    service = ServiceProcess(folder / "service")
    api = service.start()
    events = 300
    try:
        transport = _Keeping(api.url, api.ingest_token(platform))
        spool = Spool(folder / "spool.sqlite3")
        recorder = Recorder(transport, platform=platform, spool=spool, batch_size=40, flush_interval=0.05)
        for n in range(events):
            recorder.emit(_event(f"d-{n}"))
            if n % 40 == 0:
                time.sleep(0.02)
        assert recorder.force_flush(30), "the recorder did not deliver its events"
        assert recorder.shutdown(10)
        spool.close()
        sent = {f"d-{n}" for n in range(events)}
        originals = list(transport.batches)
        assert len(originals) > 1, "expected several batches"
        bodies = [e for payload in originals for e in json.loads(payload)["events"]]
        rng = random.Random(5)
        regrouped: list[list[dict[str, Any]]] = []
        for size in (7, 50, 130):
            shuffled = bodies[:]
            rng.shuffle(shuffled)
            regrouped += [shuffled[i : i + size] for i in range(0, len(shuffled), size)]
        regrouped.append(bodies[::-1])  # everything in one batch
        regrouped.append(bodies[: events // 2] + bodies[: events // 3])  # a batch holding an event twice
        posts = [_post(api.url, transport, p) for p in originals]
        posts += [_post(api.url, transport, _batch(platform, group)) for group in regrouped]
        assert all(code == 200 for code in posts), posts
        found = wait_stored(api, platform, sent, DELIVERY_TIMEOUT)
    finally:
        service.stop()
    notes = [f"replayed {len(originals)} original batches verbatim and {len(regrouped)} regrouped"]
    return tally(name, sent, found, storage_counts(service.dsn, platform), notes)


def _event(request_id: str) -> AuditEvent:
    return AuditEvent(
        event_id=new_id(), event_time_ms=time.time_ns() // 1_000_000, organisation="org-faults",
        actor_account_id="faults-admin", actor_profile_id="", actor_role="admin", admin_operation=True,
        subject_id="", action="http.POST", route="/admin/items", resource_type="", resource_id="", method="POST",
        status=201, outcome="success", duration_ms=1.0, client_ip="127.0.0.1", peer_ip="127.0.0.1", user_agent="",
        request_id=request_id, trace_id="", span_id="", details={},
    )  # fmt: skip


def _batch(platform: str, events: list[dict[str, Any]]) -> bytes:
    return json.dumps({"schema_version": 1, "batch_id": new_id(), "platform": platform, "events": events}).encode()


def _post(url: str, transport: _Keeping, payload: bytes) -> int:
    headers = {**transport._headers, "Content-Encoding": "gzip"}
    return httpx.post(url + "/v1/events", content=gzip.compress(payload), headers=headers, timeout=30).status_code


SCENARIOS: dict[str, Callable[[Path], Outcome]] = {
    "service-down": service_down,
    "platform-killed": platform_killed,
    "workers-killed": workers_killed,
    "clickhouse-killed": clickhouse_killed,
    "replay": replay,
}
