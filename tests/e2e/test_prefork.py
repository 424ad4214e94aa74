"""Fork safety under a real pre-fork server: gunicorn --preload with several workers.

The app queues events in gunicorn's master before the workers are forked. Each worker must start with
an empty queue and a worker thread of its own: it ships the events of the requests it served, exactly
once, and never its parent's. The receiving end is a stand-in for the service that counts every
delivered event: the real service collapses redelivered events by id (by design), so it could not
show a resend.
"""

from __future__ import annotations

import gzip
import json
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import clean_env, free_port, gunicorn_args, start_process, stop_process
from tests.e2e import PRELOAD_IDS

pytestmark = pytest.mark.e2e

WORKERS = 3


class Receiver(ThreadingHTTPServer):
    """Accepts ``POST /v1/events`` like the service and counts each event's deliveries by request id."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.deliveries: Counter[str] = Counter()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        body = json.loads(raw)
        with self.server.lock:
            for event in body["events"]:
                self.server.deliveries[event["request_id"]] += 1
        payload = json.dumps({"batch_id": body["batch_id"], "accepted": len(body["events"])}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_workers_ship_their_own_events_once_and_never_the_masters(tmp_path: Path) -> None:
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    port = free_port()
    # A long flush interval: nothing ships on a timer, so every event travels at a process's exit.
    # Deferred durability: the events wait in each process's memory, which is what a fork must not copy.
    env = clean_env(
        CCAUDIT_SERVICE_URL=receiver.url,
        CCAUDIT_DURABILITY="deferred",
        CCAUDIT_FLUSH_INTERVAL="120",
        CCAUDIT_PLATFORM="forked",
        CCAUDIT_SPOOL_PATH=str(tmp_path / "spool.sqlite3"),  # the spool all processes share
    )
    args = gunicorn_args("tests.e2e.fork_app:app", port, workers=WORKERS)
    proc = start_process(args, env, f"http://127.0.0.1:{port}", tmp_path / "log", ready_path="/health")
    try:
        request_ids = [f"req-{uuid.uuid4().hex}" for _ in range(60)]

        def post(request_id: str) -> str:
            response = httpx.post(f"{proc.url}/admin/items", headers={"X-Request-ID": request_id}, timeout=10)
            assert response.status_code == 200
            return response.text

        with ThreadPoolExecutor(8) as pool:
            pids = set(pool.map(post, request_ids))
        assert len(pids) >= 2, "the requests should have been spread over several workers"
    finally:
        code = stop_process(proc)
        receiver.shutdown()
    assert code == 0, proc.output()

    deliveries = receiver.deliveries
    # Every request's event arrived, once: each worker shipped what it held at its exit.
    assert {rid: deliveries[rid] for rid in request_ids} == dict.fromkeys(request_ids, 1)
    # The master's events: at most once (the master ships them at its own exit); a worker that
    # inherited its parent's queue would have shipped them again.
    assert all(deliveries[rid] <= 1 for rid in PRELOAD_IDS), {rid: deliveries[rid] for rid in PRELOAD_IDS}
