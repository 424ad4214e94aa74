"""The WSGI middleware in-process around plain WSGI apps, with events collected in memory."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from ccaudit import Identity, WsgiCaptureMiddleware, record_audit, set_actor, set_subject
from ccaudit.capture.context import current_context
from ccaudit.capture.wsgi import IDENTITY_KEY, ROUTE_KEY
from tests.conftest import MemorySink, settings_for_tests


def environ_for(method: str, path: str, **extra: Any) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "platform.example",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "10.0.0.5",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
    }
    environ.update(extra)
    return environ


class Call:
    """Calls a WSGI app the way a server does: start_response, iterate, close."""

    def __init__(self, app: Any, environ: dict[str, Any], *, read: int | None = None) -> None:
        self.status = ""
        self.chunks: list[bytes] = []
        result = app(environ, self.start_response)
        try:
            for i, chunk in enumerate(result):
                if read is not None and i >= read:
                    break  # the server stops: the client went away
                self.chunks.append(chunk)
        finally:
            result.close()

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        self.status = status
        return lambda data: None


def actor_resolver(environ: Any) -> Identity | None:
    user = environ.get("HTTP_X_TEST_USER")
    return Identity(account_id=user, organisation="org-1", role="admin") if user else None


def make(app: Any, sink: MemorySink, **settings: Any) -> WsgiCaptureMiddleware:
    return WsgiCaptureMiddleware(app, settings_for_tests(**settings), resolver=actor_resolver, recorder=sink)  # type: ignore[arg-type]


def simple(status: str = "200 OK", body: Iterable[bytes] = (b"ok",)) -> Any:
    def app(environ: Any, start_response: Any) -> Iterable[bytes]:
        start_response(status, [("Content-Type", "text/plain")])
        return body

    return app


def test_audited_post_records_status_route_headers_and_peer() -> None:
    sink = MemorySink()
    mw = make(simple("201 Created"), sink, trusted_proxies=("10.0.0.0/8",))
    environ = environ_for(
        "POST",
        "/users/7",
        SCRIPT_NAME="/admin",
        HTTP_USER_AGENT="Agent/1.0",
        HTTP_X_REQUEST_ID="req-1",
        HTTP_X_FORWARDED_FOR="203.0.113.9, 10.0.0.2",
        HTTP_X_TEST_USER="alice",
    )
    call = Call(mw, environ)
    assert call.status == "201 Created"
    assert call.chunks == [b"ok"]
    [event] = sink.events
    assert (event.method, event.status, event.outcome) == ("POST", 201, "success")
    assert event.route == "/admin/users/7"  # no framework glue: the raw path, mount point included
    assert event.admin_operation is True  # classified on the full path
    assert (event.actor_account_id, event.organisation, event.actor_role) == ("alice", "org-1", "admin")
    assert (event.user_agent, event.request_id) == ("Agent/1.0", "req-1")
    assert (event.client_ip, event.peer_ip) == ("203.0.113.9", "10.0.0.5")
    assert event.duration_ms >= 0


def test_forwarded_header_is_read_when_configured() -> None:
    sink = MemorySink()
    mw = make(simple(), sink, trusted_proxies=("10.0.0.0/8",), proxy_header="forwarded")
    Call(mw, environ_for("POST", "/admin/x", HTTP_FORWARDED='for="198.51.100.4:5000"', HTTP_X_TEST_USER="a"))
    assert sink.events[0].client_ip == "198.51.100.4"


def test_public_get_is_not_recorded() -> None:
    sink = MemorySink()
    Call(make(simple(), sink), environ_for("GET", "/about"))
    assert sink.events == []


def test_glue_route_and_identity_from_the_environ() -> None:
    sink = MemorySink()

    def app(environ: Any, start_response: Any) -> Iterable[bytes]:
        environ[ROUTE_KEY] = "/admin/users/{id}"
        environ[IDENTITY_KEY] = Identity(account_id="glue", role="admin")
        start_response("200 OK", [])
        return [b""]

    mw = WsgiCaptureMiddleware(app, settings_for_tests(), recorder=sink)  # type: ignore[arg-type]
    Call(mw, environ_for("POST", "/admin/users/3"))
    [event] = sink.events
    assert (event.route, event.actor_account_id) == ("/admin/users/{id}", "glue")


def test_exception_before_start_response_is_error_500_and_reraised() -> None:
    sink = MemorySink()

    def app(environ: Any, start_response: Any) -> Iterable[bytes]:
        raise RuntimeError("boom")

    mw = make(app, sink)
    with pytest.raises(RuntimeError, match="boom"):
        mw(environ_for("POST", "/admin/boom", HTTP_X_TEST_USER="alice"), lambda *a: None)
    [event] = sink.events
    assert (event.outcome, event.status) == ("error", 500)
    assert current_context() is None


def test_exception_while_iterating_is_error_and_reraised() -> None:
    sink = MemorySink()

    def body() -> Iterator[bytes]:
        yield b"part"
        raise ValueError("late")

    with pytest.raises(ValueError, match="late"):
        Call(make(simple(body=body()), sink), environ_for("POST", "/admin/x", HTTP_X_TEST_USER="alice"))
    [event] = sink.events
    assert (event.outcome, event.status) == ("error", 200)


def test_server_closing_early_is_aborted_and_inner_close_runs() -> None:
    sink = MemorySink()
    closed: list[bool] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            return iter([b"a", b"b", b"c"])

        def close(self) -> None:
            closed.append(True)

    Call(make(simple(body=Body()), sink), environ_for("POST", "/admin/x", HTTP_X_TEST_USER="alice"), read=1)
    [event] = sink.events
    assert (event.outcome, event.status) == ("aborted", 499)
    assert closed == [True]


def test_connection_error_while_iterating_is_aborted() -> None:
    sink = MemorySink()

    def body() -> Iterator[bytes]:
        yield b"part"
        raise BrokenPipeError("client gone")

    with pytest.raises(BrokenPipeError):
        Call(make(simple(body=body()), sink), environ_for("POST", "/admin/x", HTTP_X_TEST_USER="alice"))
    assert [(e.outcome, e.status) for e in sink.events] == [("aborted", 499)]


def test_context_api_works_in_the_app_and_in_a_streamed_body() -> None:
    sink = MemorySink()

    def app(environ: Any, start_response: Any) -> Iterable[bytes]:
        set_actor("bob", organisation="org-2", role="user")
        set_subject("person:9")
        record_audit("person.update", resource_type="person", resource_id="9", details={"fields": "name"})
        start_response("200 OK", [])

        def body() -> Iterator[bytes]:
            record_audit("export.streamed")  # app code running while the server iterates
            yield b"x"

        return body()

    Call(make(app, sink), environ_for("GET", "/reports"))
    first, second = sink.events
    assert (first.action, first.resource_id, first.subject_id, first.details) == (
        "person.update",
        "9",
        "person:9",
        {"fields": "name"},
    )
    assert (first.actor_account_id, first.organisation) == ("bob", "org-2")
    assert second.action == "export.streamed"
    assert second.request_id == first.request_id
    assert current_context() is None


def test_no_event_until_the_server_closes_the_body() -> None:
    sink = MemorySink()
    mw = make(simple(), sink)
    result = mw(environ_for("POST", "/admin/x", HTTP_X_TEST_USER="alice"), lambda *a: None)
    assert list(result) == [b"ok"]
    assert sink.events == []  # the response is not over until close()
    result.close()  # type: ignore[attr-defined]
    result.close()  # type: ignore[attr-defined]  # a second close records nothing more
    assert len(sink.events) == 1
    assert sink.events[0].outcome == "success"
