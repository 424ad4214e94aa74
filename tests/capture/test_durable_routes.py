"""Strict and fail-closed routes, through the real recorder and spool (ASGI and WSGI)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ccaudit import CaptureMiddleware, Identity, WsgiCaptureMiddleware
from ccaudit.capture.context import AuditNote
from ccaudit.capture.core import CaptureCore, RequestFacts, RequestState
from ccaudit.shipping.recorder import Recorder
from ccaudit.shipping.spool import Spool
from ccaudit.shipping.transport import DeliveryError
from tests.conftest import settings_for_tests

ROUTES = {"strict_paths": ("/admin/strict/*",), "fail_closed_paths": ("/admin/critical/*",)}


class Down:
    """The service is unreachable: spooled events stay in the spool, where the test can see them."""

    def send(self, payload: bytes) -> None:
        raise DeliveryError("down", retryable=True)


def actor(scope: Any) -> Identity:
    return Identity(account_id="alice", role="admin")


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "spool.sqlite3", max_events=5)


@pytest.fixture
def recorder(spool: Spool) -> Iterator[Recorder]:
    recorder = Recorder(Down(), platform="test", spool=spool, flush_interval=60)
    yield recorder
    recorder.shutdown(1)


def fill(spool: Spool) -> None:
    spool.put(["{}"] * spool.max_events)


def asgi_call(app: Any, path: str, spool: Spool) -> tuple[int, bytes, list[int], bool]:
    """(status, body, spool depth seen when the response started, whether the app ran)."""
    ran: list[bool] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        ran.append(True)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"done"})

    app.app = inner
    seen: list[int] = []
    status: list[int] = []
    body: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
            seen.append(spool.status().depth)
        else:
            body.append(message.get("body", b""))

    scope = {"type": "http", "method": "POST", "path": path, "headers": [], "client": ("192.0.2.1", 1)}
    asyncio.run(app(scope, receive, send))
    return status[0], b"".join(body), seen, bool(ran)


def test_asgi_strict_route_has_its_event_on_disk_before_the_response(recorder: Recorder, spool: Spool) -> None:
    app = CaptureMiddleware(None, settings_for_tests(**ROUTES), resolver=actor, recorder=recorder)  # type: ignore[arg-type]
    status, body, seen, ran = asgi_call(app, "/admin/strict/1", spool)
    assert (status, body, ran) == (200, b"done", True)
    assert seen == [1]  # already in the spool when the response started
    recorder.force_flush(0.5)
    assert spool.status().depth == 1  # and not written a second time at the end of the request


def test_asgi_strict_route_answers_503_when_the_event_cannot_be_kept(recorder: Recorder, spool: Spool) -> None:
    fill(spool)
    app = CaptureMiddleware(None, settings_for_tests(**ROUTES), resolver=actor, recorder=recorder)  # type: ignore[arg-type]
    status, body, _, ran = asgi_call(app, "/admin/strict/1", spool)
    assert status == 503
    assert b"cannot be audited" in body
    assert b"done" not in body
    assert ran  # a strict route runs first and is checked at its response


def test_asgi_fail_closed_route_does_not_run_without_room(recorder: Recorder, spool: Spool) -> None:
    app = CaptureMiddleware(None, settings_for_tests(**ROUTES), resolver=actor, recorder=recorder)  # type: ignore[arg-type]
    assert asgi_call(app, "/admin/critical/1", spool)[::3] == (200, True)
    fill(spool)
    status, _, _, ran = asgi_call(app, "/admin/critical/2", spool)
    assert (status, ran) == (503, False)
    # Ordinary routes are not held back by a full spool (fail-open, the loss is counted).
    assert asgi_call(app, "/admin/other", spool)[::3] == (200, True)


def test_fail_closed_without_a_spool_refuses(spool: Spool) -> None:
    memory_only = Recorder(Down(), platform="test", flush_interval=60)
    app = CaptureMiddleware(None, settings_for_tests(**ROUTES), resolver=actor, recorder=memory_only)  # type: ignore[arg-type]
    assert asgi_call(app, "/admin/critical/1", spool)[::3] == (503, False)
    memory_only.shutdown(1)


def wsgi_call(
    app: WsgiCaptureMiddleware, path: str, spool: Spool, lazy: bool = False
) -> tuple[str, bytes, list[int], bool]:
    ran: list[bool] = []

    def eager(environ: Any, start_response: Any) -> list[bytes]:
        ran.append(True)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done"]

    def generator(environ: Any, start_response: Any) -> Iterator[bytes]:
        ran.append(True)
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"done"

    app.app = generator if lazy else eager
    statuses: list[str] = []
    seen: list[int] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        statuses.append(status)
        seen.append(spool.status().depth)
        return None

    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "REMOTE_ADDR": "192.0.2.1"}
    result = app(environ, start_response)
    body = b"".join(result)
    result.close()  # type: ignore[attr-defined]
    return statuses[0], body, seen, bool(ran)


@pytest.mark.parametrize("lazy", [False, True])
def test_wsgi_strict_and_fail_closed(recorder: Recorder, spool: Spool, lazy: bool) -> None:
    app = WsgiCaptureMiddleware(lambda e, s: [], settings_for_tests(**ROUTES), resolver=actor, recorder=recorder)
    status, body, seen, _ = wsgi_call(app, "/admin/strict/1", spool, lazy)
    assert (status, body, seen) == ("200 OK", b"done", [1])
    assert wsgi_call(app, "/admin/critical/1", spool, lazy)[::3] == ("200 OK", True)
    fill(spool)
    status, body, _, _ = wsgi_call(app, "/admin/strict/2", spool, lazy)
    assert status.startswith("503")
    assert b"cannot be audited" in body
    assert b"done" not in body
    assert wsgi_call(app, "/admin/critical/2", spool, lazy)[::3] == ("503 Service Unavailable", False)


class Keeping:
    """A sink with the recorder's strict-route interface, keeping in memory what it is asked to."""

    def __init__(self) -> None:
        self.kept: list[Any] = []
        self.emitted: list[Any] = []

    def keep(self, events: list[Any]) -> bool:
        self.kept.extend(events)
        return True

    def emit(self, event: Any) -> None:
        self.emitted.append(event)


def _strict_post(core: CaptureCore) -> RequestState:
    state = core.begin("POST", "/admin/strict/1")
    state.status, state.response_started = 200, True
    return state


FACTS = RequestFacts(route="/admin/strict/{id}", user_agent="", forwarded=None, request_id="", peer="192.0.2.1")


def test_a_note_made_after_a_strict_route_kept_its_event_is_recorded_too() -> None:
    sink = Keeping()
    core = CaptureCore(settings_for_tests(**ROUTES), sink, actor)
    state = _strict_post(core)
    assert core.keep_now(state, FACTS, {})
    # record_audit after the response started, e.g. from a streamed body or a background task
    state.notes = [AuditNote(action="member.delete", resource_type="member", resource_id="7")]
    state.ended = time.perf_counter()
    core.complete(state, lambda: FACTS, {})
    assert [e.action for e in sink.kept] == ["http.POST"]
    assert [(e.action, e.resource_id) for e in sink.emitted] == [("member.delete", "7")]


def test_a_platform_that_records_no_audit_keeps_nothing_on_strict_routes() -> None:
    from ccaudit.register import DEFAULT_REGISTER

    usage_only = DEFAULT_REGISTER.model_copy(
        update={"platforms": {"test": {"usage": DEFAULT_REGISTER.default["usage"]}}}
    )
    sink = Keeping()
    core = CaptureCore(settings_for_tests(processing_register=usage_only, **ROUTES), sink, actor)
    state = _strict_post(core)
    assert not state.strict
    assert core.keep_now(state, FACTS, {})
    state.ended = time.perf_counter()
    core.complete(state, lambda: FACTS, {})
    assert sink.kept == []  # an undeclared stream would make ingest refuse the whole batch
    assert sink.emitted == []
