"""The ASGI middleware in-process, around a real Starlette app, with events collected in memory."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

from ccaudit import CaptureMiddleware, Identity, record_audit, record_auth, set_actor, set_subject
from ccaudit.capture.context import current_context
from ccaudit.shipping.recorder import Recorder
from tests.conftest import MemorySink, settings_for_tests


async def ok(request: Request) -> Response:
    return PlainTextResponse("ok")


async def edit(request: Request) -> Response:
    set_subject("person:7")
    record_audit("person.update", resource_type="person", resource_id="7", details={"fields": "name", "n": 1})
    record_audit("person.notify", resource_type="mail")
    return JSONResponse({"ok": True})


def sync_edit(request: Request) -> Response:
    # Starlette runs sync endpoints in a thread with a copy of the context.
    set_actor("worker-7", organisation="org-sync")
    record_audit("sync.update")
    return PlainTextResponse("ok")


async def boom(request: Request) -> Response:
    raise RuntimeError("boom")


async def forbidden(request: Request) -> Response:
    return PlainTextResponse("no", status_code=403)


async def login_page(request: Request) -> Response:
    body = await request.body()
    if body == b"good":
        set_actor("bob")
        return PlainTextResponse("welcome")
    record_auth("login_failed")
    return PlainTextResponse("try again")  # 200 on a failed login, as many forms do


def resolver(scope: Any) -> Identity | None:
    user = dict(scope.get("headers") or ()).get(b"x-test-user")
    return Identity(account_id=user.decode(), organisation="org-1", role="admin") if user else None


def make_app(sink: MemorySink, **settings: Any) -> CaptureMiddleware:
    inner = Starlette(
        routes=[
            Route("/", ok),
            Route("/health", ok, methods=["GET", "POST"]),
            Route("/admin/people/{pid}", edit, methods=["POST"]),
            Route("/admin/sync", sync_edit, methods=["POST"]),
            Route("/admin/boom", boom, methods=["POST"]),
            Route("/admin/forbidden", forbidden, methods=["POST"]),
            Route("/login", login_page, methods=["POST"]),
            Mount("/api/v2", routes=[Route("/items/{item_id}", ok, methods=["PUT"])]),
        ]
    )
    recorder: Any = sink
    return CaptureMiddleware(inner, settings_for_tests(**settings), resolver=resolver, recorder=recorder)


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


class Platform:
    """Calls an ASGI app in-process over httpx's ASGI transport, one event loop per call."""

    def __init__(self, app: CaptureMiddleware) -> None:
        self.app = app

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False, client=("192.0.2.10", 5000))
            async with httpx.AsyncClient(transport=transport, base_url="http://platform.test") as ac:
                return await ac.request(method, path, **kwargs)

        return asyncio.run(go())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)


@pytest.fixture
def client(sink: MemorySink) -> Platform:
    return Platform(make_app(sink))


def test_admin_post_event_fields(client: Platform, sink: MemorySink) -> None:
    response = client.post(
        "/admin/people/7", headers={"x-test-user": "alice", "user-agent": "UA/1", "x-request-id": "r-1"}
    )
    assert response.status_code == 200
    first, second = sink.events
    assert first.action == "person.update"
    assert (first.resource_type, first.resource_id, first.subject_id) == ("person", "7", "person:7")
    assert first.details == {"fields": "name", "n": "1"}
    assert (first.actor_account_id, first.organisation, first.actor_role) == ("alice", "org-1", "admin")
    assert first.route == "/admin/people/{pid}"
    assert (first.method, first.status, first.outcome) == ("POST", 200, "success")
    assert (first.client_ip, first.peer_ip, first.user_agent) == ("192.0.2.10", "192.0.2.10", "UA/1")
    assert first.admin_operation
    assert first.duration_ms >= 0
    # A further record_audit adds an event with the same request id.
    assert second.action == "person.notify"
    assert second.resource_type == "mail"
    assert first.request_id == second.request_id == "r-1"
    assert first.event_id != second.event_id


def test_context_api_works_from_sync_endpoints(client: Platform, sink: MemorySink) -> None:
    client.post("/admin/sync")
    [event] = sink.events
    assert (event.action, event.actor_account_id, event.organisation) == ("sync.update", "worker-7", "org-sync")


def test_exception_before_response_is_error_500_and_propagates(sink: MemorySink) -> None:
    app = make_app(sink)
    scope = {
        "type": "http", "method": "POST", "path": "/admin/boom", "raw_path": b"/admin/boom", "root_path": "",
        "headers": [], "query_string": b"", "client": ("192.0.2.1", 1), "server": ("t", 80), "scheme": "http",
        "http_version": "1.1", "asgi": {"version": "3.0"},
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(app(scope, receive, send))
    [event] = sink.events
    assert (event.outcome, event.status) == ("error", 500)


@pytest.mark.parametrize(
    ("path", "outcome", "status"),
    [("/admin/forbidden", "denied", 403), ("/admin/nope", "failed", 404)],
)
def test_outcomes(client: Platform, sink: MemorySink, path: str, outcome: str, status: int) -> None:
    client.post(path, headers={"x-test-user": "alice"})
    [event] = sink.events
    assert (event.outcome, event.status) == (outcome, status)


def test_anonymous_admin_attempt_is_recorded_but_anonymous_public_post_is_not(
    client: Platform, sink: MemorySink
) -> None:
    client.post("/admin/forbidden")
    client.put("/api/v2/items/3")
    [event] = sink.events
    assert event.route == "/admin/forbidden"
    assert event.actor_account_id == ""


def test_mounted_route_template(client: Platform, sink: MemorySink) -> None:
    client.put("/api/v2/items/3", headers={"x-test-user": "bob"})
    [event] = sink.events
    assert event.route == "/api/v2/items/{item_id}"


def test_health_checks_and_plain_gets_are_not_audited(client: Platform, sink: MemorySink) -> None:
    client.post("/health", headers={"x-test-user": "alice"})
    client.get("/", headers={"x-test-user": "alice"})
    assert sink.events == []


def test_login_failed_by_context_api_even_with_200(client: Platform, sink: MemorySink) -> None:
    client.post("/login", content=b"bad")
    client.post("/login", content=b"good")
    failed, ok_ = sink.events
    assert (failed.action, failed.outcome, failed.status) == ("auth.login_failed", "denied", 200)
    assert (ok_.action, ok_.outcome, ok_.actor_account_id) == ("auth.login", "success", "bob")


def test_trace_and_span_ids_of_the_active_span(sink: MemorySink) -> None:
    tracer = TracerProvider().get_tracer("test")
    app = make_app(sink)

    async def go() -> None:
        with tracer.start_as_current_span("request") as span:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as ac:
                await ac.post("/admin/forbidden")
            ctx = span.get_span_context()
            [event] = sink.events
            assert event.trace_id == format(ctx.trace_id, "032x")
            assert event.span_id == format(ctx.span_id, "016x")

    asyncio.run(go())


def test_client_disconnect_is_recorded_as_aborted(sink: MemorySink) -> None:
    async def slow(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        assert message["type"] == "http.disconnect"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"late", "more_body": True})

    recorder: Any = sink
    app = CaptureMiddleware(slow, settings_for_tests(), resolver=resolver, recorder=recorder)
    scope = {"type": "http", "method": "POST", "path": "/admin/x", "headers": [(b"x-test-user", b"a")], "client": None}

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        pass

    asyncio.run(app(scope, receive, send))
    [event] = sink.events
    assert (event.outcome, event.status, event.peer_ip) == ("aborted", 499, "")


def test_context_api_outside_a_request_is_a_no_op() -> None:
    assert current_context() is None
    assert record_audit("x") is False
    assert set_actor("a") is False
    assert set_subject("s") is False
    assert record_auth("logout") is False


def test_a_failing_resolver_never_breaks_the_request(sink: MemorySink) -> None:
    def broken(scope: Any) -> Identity | None:
        raise ValueError("resolver bug")

    recorder: Any = sink
    app = CaptureMiddleware(
        Starlette(routes=[Route("/admin/x", ok, methods=["POST"])]),
        settings_for_tests(),
        resolver=broken,
        recorder=recorder,
    )

    async def go() -> int:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as ac:
            return (await ac.post("/admin/x")).status_code

    assert asyncio.run(go()) == 200
    assert app.core.errors == 1
    [event] = sink.events  # still recorded, without an actor
    assert event.actor_account_id == ""


def test_lifespan_shutdown_flushes_the_recorder() -> None:
    delivered: list[dict[str, Any]] = []

    class Collect:
        def send(self, payload: bytes) -> None:
            delivered.append(json.loads(payload))

    recorder = Recorder(Collect(), platform="test", flush_interval=60)
    app = CaptureMiddleware(
        Starlette(routes=[Route("/admin/x", ok, methods=["POST"])]), settings_for_tests(), recorder=recorder
    )

    async def go() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as ac:
            await ac.post("/admin/x")
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for message in ({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}):
            queue.put_nowait(message)
        sent: list[str] = []

        async def send(message: Any) -> None:
            sent.append(message["type"])

        await app({"type": "lifespan", "asgi": {"version": "3.0"}}, queue.get, send)
        assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]

    asyncio.run(go())
    assert [e["action"] for batch in delivered for e in batch["events"]] == ["http.POST"]
    assert recorder.stats()["shipped"] == 1


def test_a_role_comes_from_the_resolver_or_set_actor_never_from_the_path(client: Platform, sink: MemorySink) -> None:
    client.post("/admin/forbidden")  # anonymous, in the admin area
    client.post("/admin/sync")  # set_actor without a role
    client.post("/admin/forbidden", headers={"x-test-user": "alice"})  # the resolver says admin
    anonymous, named, resolved = sink.events
    assert (anonymous.actor_account_id, anonymous.admin_operation, anonymous.actor_role) == ("", True, "")
    assert (named.actor_account_id, named.actor_role) == ("worker-7", "")
    assert resolved.actor_role == "admin"
