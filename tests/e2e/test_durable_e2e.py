"""Durable by default, through real servers and real HTTP: an acknowledged audit event is in the spool
file when the client has its answer, whatever the service does and however the platform dies.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.capture.test_page_views import consent_cookie
from tests.conftest import clean_env, free_port, gunicorn_args, start_process, stop_process
from tests.e2e.test_prefork import Receiver
from tests.faults.harness import spooled_request_ids
from tests.shipping.hanging import HangingService

pytestmark = pytest.mark.e2e


def test_every_acknowledged_request_is_in_the_spool_while_the_service_hangs_and_after_a_sigkill(
    tmp_path: Path,
) -> None:
    hung = HangingService()
    spool = tmp_path / "spool.sqlite3"
    port = free_port()
    # The defaults, but for where the service and the spool are.
    env = clean_env(CCAUDIT_SERVICE_URL=hung.url, CCAUDIT_PLATFORM="durable", CCAUDIT_SPOOL_PATH=str(spool))
    args = [sys.executable, "-m", "uvicorn", "tests.e2e.durable_app:app", "--no-proxy-headers", "--port", str(port)]
    proc = start_process(args, env, f"http://127.0.0.1:{port}", tmp_path / "log", "/health")
    acked: list[str] = []
    views = 0
    try:
        with httpx.Client(base_url=proc.url, timeout=10) as client:
            started = time.monotonic()
            n = 0
            # Past the first flush interval: the shippers' sends (page views, spooled events) hang.
            while time.monotonic() - started < 2.5 or hung.accepted == 0:
                assert time.monotonic() - started < 60, "no send ever reached the hanging service"
                request_id = f"h-{n}"
                response = client.post("/admin/items", headers={"X-Request-ID": request_id}, content=b"x")
                assert response.status_code == 201
                acked.append(request_id)
                page = client.get("/page", headers={"Cookie": consent_cookie()})
                assert page.status_code == 200
                views += 1
                n += 1
        in_spool_alive = spooled_request_ids(spool)
    finally:
        proc.proc.kill()  # SIGKILL: nothing the process held in memory survives
        proc.proc.wait(20)
        hung.close()
    assert set(acked) <= in_spool_alive  # on disk when answered, while every send hangs
    assert set(acked) <= spooled_request_ids(spool)  # and still there after the kill
    assert views > 0


def test_pre_fork_workers_share_one_spool_and_deliver_each_acknowledged_event_once(tmp_path: Path) -> None:
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    port = free_port()
    env = clean_env(
        CCAUDIT_SERVICE_URL=receiver.url,
        CCAUDIT_PLATFORM="forked",
        CCAUDIT_SPOOL_PATH=str(tmp_path / "spool.sqlite3"),  # one file, four workers
        CCAUDIT_FLUSH_INTERVAL="0.2",
    )
    args = gunicorn_args("tests.faults.wsgi_app:app", port, workers=4)
    proc = start_process(args, env, f"http://127.0.0.1:{port}", tmp_path / "log", ready_path="/health")
    request_ids = [f"req-{uuid.uuid4().hex}" for _ in range(400)]
    try:

        def post(request_id: str) -> str:
            response = httpx.post(f"{proc.url}/admin/items", headers={"X-Request-ID": request_id}, timeout=10)
            assert response.status_code == 201
            return response.text

        with ThreadPoolExecutor(16) as pool:
            pids = Counter(pool.map(post, request_ids))
        assert len(pids) >= 2, "the requests should have been spread over several workers"
    finally:
        code = stop_process(proc)
        receiver.shutdown()
    assert code == 0, proc.output()
    deliveries = receiver.deliveries
    assert {rid: deliveries[rid] for rid in request_ids} == dict.fromkeys(request_ids, 1)
