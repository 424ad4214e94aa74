"""Durable by default: audit events and consent receipts are in the spool before the response starts.

Through real ASGI and WSGI apps, the real recorder and a real spool file; the service is down (the
transport refuses every send), so what is in the spool stays there for the test to see.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ccaudit import CaptureMiddleware, Identity, WsgiCaptureMiddleware, record_audit, record_consent
from ccaudit.shipping.recorder import Recorder
from ccaudit.shipping.spool import Spool
from tests.capture.test_durable_routes import Down
from tests.capture.test_platform_routes import HASHES, AsgiClient, receipt
from tests.conftest import settings_for_tests
from tests.faults.harness import spooled_events

CONSENT_ID = "3e0c6a52-0f0e-4c43-9d7c-1f6b6c0b2a11"


def actor(scope: Any) -> Identity:
    return Identity(account_id="alice", organisation="org-1", role="admin")


class Syncs(Recorder):
    """The real recorder, noting on which thread each sync (fsync) ran."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sync_threads: list[int] = []

    def sync(self) -> bool:
        self.sync_threads.append(threading.get_ident())
        return super().sync()


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    spool = Spool(tmp_path / "spool.sqlite3", max_events=50)
    yield spool
    spool.close()


@pytest.fixture
def recorder(spool: Spool) -> Iterator[Syncs]:
    recorder = Syncs(Down(), platform="test", spool=spool, flush_interval=60)
    yield recorder
    recorder.shutdown(1)


def request_ids(spool: Spool) -> list[str]:
    return [str(e.get("request_id", e.get("consent_id"))) for e in spooled_events(spool.path)]


class Seen:
    """An ASGI server's side of one request: what it was sent, and the spool when the response started."""

    def __init__(self, app: Any, spool: Spool, method: str, path: str, request_id: str) -> None:
        self.status = 0
        self.spooled_at_start: list[str] = []
        self.loop_thread = 0

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
                self.spooled_at_start = request_ids(spool)

        async def go() -> None:
            self.loop_thread = threading.get_ident()
            headers = [(b"x-request-id", request_id.encode())]
            await app(
                {"type": "http", "method": method, "path": path, "headers": headers, "client": ("192.0.2.1", 1)},
                receive,
                send,
            )

        asyncio.run(go())


async def admin_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 201, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"created"})


def test_asgi_an_audited_request_is_in_the_spool_before_its_response_starts(recorder: Syncs, spool: Spool) -> None:
    app = CaptureMiddleware(admin_app, settings_for_tests(), resolver=actor, recorder=recorder)
    seen = Seen(app, spool, "POST", "/admin/items", "r-1")
    assert (seen.status, seen.spooled_at_start) == (201, ["r-1"])
    [event] = spooled_events(spool.path)
    assert (event["status"], event["outcome"], event["actor_account_id"]) == (201, "success", "alice")
    recorder.force_flush(0.2)
    assert request_ids(spool) == ["r-1"]  # not written a second time at the end of the request
    stats = recorder.stats()
    assert (stats["kept"], stats["emitted"]) == (1, 0)
    assert recorder.sync_threads == []  # the default does not wait for the disk


def test_a_note_made_after_the_response_started_is_recorded_too(recorder: Syncs, spool: Spool) -> None:
    async def streamed(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        record_audit("export.finished", resource_type="export", resource_id="9")  # after the start
        await send({"type": "http.response.body", "body": b"rows"})

    app = CaptureMiddleware(streamed, settings_for_tests(), resolver=actor, recorder=recorder)
    seen = Seen(app, spool, "POST", "/admin/export", "r-2")
    assert seen.spooled_at_start == ["r-2"]
    recorder.force_flush(0.5)  # the late note waits in memory until the recorder's thread writes it
    assert sorted(e["action"] for e in spooled_events(spool.path)) == ["export.finished", "http.POST"]


def test_deferred_durability_writes_within_a_flush_interval_not_before_the_response(
    recorder: Syncs, spool: Spool
) -> None:
    app = CaptureMiddleware(admin_app, settings_for_tests(durability="deferred"), resolver=actor, recorder=recorder)
    seen = Seen(app, spool, "POST", "/admin/items", "r-3")
    assert (seen.status, seen.spooled_at_start) == (201, [])
    recorder.force_flush(0.5)
    assert request_ids(spool) == ["r-3"]


def test_power_durability_waits_for_the_disk_off_the_event_loop(recorder: Syncs, spool: Spool) -> None:
    app = CaptureMiddleware(admin_app, settings_for_tests(durability="power"), resolver=actor, recorder=recorder)
    seen = Seen(app, spool, "POST", "/admin/items", "r-4")
    assert seen.spooled_at_start == ["r-4"]
    assert len(recorder.sync_threads) == 1
    assert recorder.sync_threads[0] != seen.loop_thread


def test_a_strict_route_waits_for_the_disk_under_the_default(recorder: Syncs, spool: Spool) -> None:
    settings = settings_for_tests(strict_paths=("/admin/strict/*",))
    app = CaptureMiddleware(admin_app, settings, resolver=actor, recorder=recorder)
    Seen(app, spool, "POST", "/admin/items", "r-5")
    assert recorder.sync_threads == []
    seen = Seen(app, spool, "POST", "/admin/strict/1", "r-6")
    assert seen.spooled_at_start == ["r-5", "r-6"]
    assert len(recorder.sync_threads) == 1


def test_a_full_spool_does_not_refuse_an_ordinary_request_the_loss_is_counted(recorder: Syncs, spool: Spool) -> None:
    spool.put(["{}"] * spool.max_events)
    app = CaptureMiddleware(admin_app, settings_for_tests(), resolver=actor, recorder=recorder)
    seen = Seen(app, spool, "POST", "/admin/items", "r-7")
    assert seen.status == 201  # fail-open: the platform is answered all the same
    recorder.force_flush(0.5)
    stats = recorder.stats()
    assert (stats["kept"], stats["emitted"], stats["spool_dropped"]) == (0, 1, 1)


def test_a_consent_receipt_from_the_app_is_in_the_spool_before_the_response(recorder: Syncs, spool: Spool) -> None:
    async def consent(scope: Any, receive: Any, send: Any) -> None:
        record_consent(CONSENT_ID, ["analytics"], [], action="accept_all", revision=1)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = CaptureMiddleware(consent, settings_for_tests(), resolver=actor, recorder=recorder)
    seen = Seen(app, spool, "GET", "/preferences", "r-8")  # a GET: no audit event, the receipt alone
    assert seen.spooled_at_start == [CONSENT_ID]
    [stored] = spooled_events(spool.path)
    assert (stored["stream"], stored["account_id"]) == ("consent", "alice")


def test_a_banner_receipt_is_in_the_spool_before_the_204(recorder: Syncs, spool: Spool) -> None:
    async def never(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the app must not see the receipt route")

    app = CaptureMiddleware(never, settings_for_tests(consent_revision=3), recorder=recorder)
    body = receipt()
    assert body["banner_text_sha256"] == HASHES[body["language"]]
    response = AsgiClient(app).post("/.ccaudit/consent", json=body, headers={"Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 204
    assert request_ids(spool) == [body["consent_id"]]


def test_wsgi_an_audited_request_is_in_the_spool_before_the_server_sends_anything(
    recorder: Syncs, spool: Spool
) -> None:
    seen: list[list[str]] = []

    def inner(environ: Any, start_response: Any) -> list[bytes]:
        start_response("201 Created", [("Content-Type", "text/plain")])
        return [b"created"]

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        seen.append(request_ids(spool))
        return None

    app = WsgiCaptureMiddleware(inner, settings_for_tests(), resolver=actor, recorder=recorder)
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/admin/items", "REMOTE_ADDR": "192.0.2.1",
               "HTTP_X_REQUEST_ID": "w-1"}  # fmt: skip
    result = app(environ, start_response)
    assert b"".join(result) == b"created"
    result.close()  # type: ignore[attr-defined]
    assert seen == [["w-1"]]
    assert recorder.stats()["kept"] == 1


def test_wsgi_threads_committing_together_share_commits(recorder: Syncs, spool: Spool) -> None:
    def inner(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    app = WsgiCaptureMiddleware(inner, settings_for_tests(), resolver=actor, recorder=recorder)

    def post(n: int) -> None:
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/admin/items", "REMOTE_ADDR": "192.0.2.1",
                   "HTTP_X_REQUEST_ID": f"t-{n}"}  # fmt: skip
        result = app(environ, lambda status, headers, exc_info=None: None)
        list(result)
        result.close()  # type: ignore[attr-defined]

    threads = [threading.Thread(target=lambda k=k: [post(k * 10 + i) for i in range(4)]) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(request_ids(spool)) == sorted(f"t-{k * 10 + i}" for k in range(8) for i in range(4))
    assert recorder.stats()["kept"] == 32


def test_over_http_the_platform_answers_after_the_commit(recorder: Syncs, spool: Spool) -> None:
    app = CaptureMiddleware(admin_app, settings_for_tests(), resolver=actor, recorder=recorder)

    async def go() -> list[str]:
        transport = httpx.ASGITransport(app=app, client=("198.51.100.4", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://platform.test") as client:
            ids = []
            for n in range(20):
                response = await client.post("/admin/items", headers={"X-Request-ID": f"h-{n}"})
                assert response.status_code == 201
                ids.append(f"h-{n}")
                assert f"h-{n}" in request_ids(spool)  # acknowledged, therefore on disk
            return ids

    acknowledged = asyncio.run(go())
    assert sorted(request_ids(spool)) == sorted(acknowledged)


def test_durability_before_the_response_without_a_spool_fails_at_start_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ccaudit import ConfigurationError, load_settings

    monkeypatch.setenv("CCAUDIT_SPOOL", "false")
    assert load_settings().durability == "process"  # the default: events simply wait in memory
    monkeypatch.setenv("CCAUDIT_DURABILITY", "power")
    with pytest.raises(ConfigurationError, match="CCAUDIT_DURABILITY"):
        load_settings()
    monkeypatch.setenv("CCAUDIT_DURABILITY", "deferred")
    assert load_settings().durability == "deferred"
