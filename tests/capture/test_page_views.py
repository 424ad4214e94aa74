"""Page views in-process: only successful HTML GETs, only with analytics consent, never the raw path."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from ccaudit import CaptureMiddleware, WsgiCaptureMiddleware
from ccaudit.capture.core import CaptureCore
from ccaudit.capture.pages import referrer_host
from ccaudit.consent import ConsentPolicy, ConsentRecord, decide, encode_consent_cookie
from ccaudit.events import UsageEvent
from tests.conftest import MemorySink, settings_for_tests

CONSENT_ID = "0b9f3c1e-5a3d-4c1b-9a7e-3f2d1c0b9a8e"


def consent_cookie(categories: frozenset[str] = frozenset({"analytics"}), revision: int = 1) -> str:
    now = time.time_ns() // 1_000_000
    return "ccaudit_consent=" + encode_consent_cookie(ConsentRecord(CONSENT_ID, revision, categories, now, now))


async def html(request: Request) -> Response:
    return HTMLResponse("<p>hi</p>")


async def data(request: Request) -> Response:
    return JSONResponse({"x": 1})


async def missing(request: Request) -> Response:
    return HTMLResponse("gone", status_code=404)


SINK = MemorySink()
RECORDER: Any = SINK
APP = CaptureMiddleware(
    Starlette(
        routes=[
            Route("/courses/{course_id}", html),
            Route("/admin/dash", html),
            Route("/api/data", data),
            Route("/gone", missing),
            Route("/health", html),
        ]
    ),
    settings_for_tests(),
    recorder=RECORDER,
)


def call(path: str, headers: list[tuple[bytes, bytes]], method: str = "GET") -> int:
    scope = {
        "type": "http", "method": method, "path": path, "root_path": "", "query_string": b"a=secret@example.org",
        "headers": headers, "client": ("198.51.100.4", 1234), "server": ("platform.test", 80), "scheme": "http",
        "http_version": "1.1", "asgi": {"version": "3.0"}, "raw_path": path.encode(),
    }  # fmt: skip
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    asyncio.run(APP(scope, receive, send))
    return status[0]


def views() -> list[UsageEvent]:
    return [e for e in SINK.events if isinstance(e, UsageEvent)]


def test_a_consented_html_page_view_records_template_referrer_host_and_no_query() -> None:
    SINK.events.clear()
    headers = [
        (b"cookie", consent_cookie().encode()),
        (b"referer", b"https://news.example.org:443/article?id=5"),
        (b"host", b"platform.test"),
        (b"user-agent", b"UA/1"),
    ]
    assert call("/courses/intro-to-privacy-jane@example.org", headers) == 200
    [view] = views()
    assert view.page == "/courses/{course_id}"
    assert view.referrer_host == "news.example.org"
    assert (view.user_agent, view.client_ip, view.admin_area) == ("UA/1", "198.51.100.4", False)
    assert "secret" not in repr(view)
    assert "jane" not in repr(view)


def test_internal_referrer_is_dropped_and_admin_pages_count() -> None:
    SINK.events.clear()
    call(
        "/admin/dash",
        [(b"cookie", consent_cookie().encode()), (b"referer", b"http://platform.test/x"), (b"host", b"platform.test")],
    )
    [view] = views()
    assert (view.page, view.referrer_host, view.admin_area) == ("/admin/dash", "", True)


def test_no_page_view_for_json_errors_posts_excluded_paths_or_without_consent() -> None:
    SINK.events.clear()
    good = [(b"cookie", consent_cookie().encode())]
    call("/api/data", good)
    call("/gone", good)
    call("/health", good)
    call("/courses/1", good, method="POST")
    call("/courses/1", [])
    call("/courses/1", [(b"cookie", consent_cookie(frozenset({"necessary"})).encode())])
    call("/courses/1", [*good, (b"sec-gpc", b"1")])
    call("/courses/1", [*good, (b"dnt", b"1")])
    assert views() == []


def test_unmatched_paths_are_never_recorded_raw() -> None:
    SINK.events.clear()
    app = CaptureMiddleware(
        lambda scope, receive, send: HTMLResponse("x")(scope, receive, send),
        settings_for_tests(usage_page_patterns=("/people/*",)),
        recorder=RECORDER,
    )
    for path in ("/people/jane@example.org", "/anything/else"):
        scope = {"type": "http", "method": "GET", "path": path, "headers": [(b"cookie", consent_cookie().encode())]}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: Any) -> None:
            pass

        asyncio.run(app(scope, receive, send))
    assert [v.page for v in views()] == ["/people/*", "(other)"]


cookie_values = st.one_of(
    st.text(max_size=200),
    st.builds(
        consent_cookie, st.frozensets(st.sampled_from(["analytics", "necessary", "marketing"])), st.integers(0, 3)
    ),
    st.sampled_from(["ccaudit_consent=%7B%7D", "ccaudit_consent=", "ccaudit_consent=%ZZ", "a=b"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(cookie_values, max_size=3),
    st.one_of(st.none(), st.sampled_from(["1", "0", " 1", "yes", ""])),
    st.one_of(st.none(), st.sampled_from(["1", "0", "null", ""])),
    st.binary(max_size=50),
)
def test_no_usage_event_unless_the_decision_allowed_it(
    cookies: list[str], gpc: str | None, dnt: str | None, junk: bytes
) -> None:
    SINK.events.clear()
    headers = [(b"cookie", c.encode("utf-8", "surrogatepass")) for c in cookies] + [(b"x-junk", junk)]
    if gpc is not None:
        headers.append((b"sec-gpc", gpc.encode()))
    if dnt is not None:
        headers.append((b"dnt", dnt.encode()))
    assert call("/courses/1", headers) == 200
    cookie_header = "; ".join(c.encode("utf-8", "surrogatepass").decode("latin-1") for c in cookies) or None
    decision = decide(ConsentPolicy(), time.time_ns() // 1_000_000, cookie_header, gpc, dnt)
    assert len(views()) == (1 if decision.analytics else 0)
    assert APP.core.errors == 0


@pytest.mark.parametrize(
    ("referer", "host", "expected"),
    [
        ("https://News.Example.org:8443/a?b=c#d", "platform.test", "news.example.org"),
        ("https://user:pw@evil.example/x", None, "evil.example"),
        ("http://[2001:db8::1]:8080/", None, ""),  # an IP literal names a machine, perhaps a person's
        ("http://203.0.113.99:8080/login", None, ""),
        ("http://0x7f.1/", None, ""),
        ("https://platform.test/page", "platform.test:443", ""),
        ("android-app://com.example.app", None, "com.example.app"),
        ("/relative/path", None, ""),
        ("https:///nohost", None, ""),
        ("https://bad host\x00/", None, ""),
        (None, None, ""),
    ],
)
def test_referrer_host(referer: str | None, host: str | None, expected: str) -> None:
    assert referrer_host(referer, host) == expected


def test_the_register_decides_which_streams_a_platform_records() -> None:
    from ccaudit.register import DEFAULT_REGISTER

    audit_only = DEFAULT_REGISTER.model_copy(
        update={"platforms": {"test": {"audit": DEFAULT_REGISTER.default["audit"]}}}
    )
    sink = MemorySink()
    recorder: Any = sink
    app = CaptureMiddleware(
        Starlette(routes=[Route("/courses/{course_id}", html)]),
        settings_for_tests(processing_register=audit_only),
        recorder=recorder,
    )
    scope = {"type": "http", "method": "GET", "path": "/courses/1", "root_path": "", "headers": [(b"cookie", consent_cookie().encode())],
             "client": ("198.51.100.4", 1)}  # fmt: skip

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        pass

    asyncio.run(app(scope, receive, send))
    assert sink.events == []  # consent given, but this platform declares no usage stream


# --- WSGI: a visitor without any consent manager's cookie costs no header reading ---

ALL_MANAGERS = ["ccaudit", "orestbida", "klaro", "cookiebot", "cookieyes", "osano", "tcf"]
PREFILTER_CORE = CaptureCore(settings_for_tests(consent_adapters=ALL_MANAGERS, gpc_override=True), MemorySink())


def _wsgi_page(environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [b"<p>hi</p>"]


def test_wsgi_reads_the_request_only_when_a_consent_cookie_may_allow_a_page_view() -> None:
    sink = MemorySink()
    routes: list[str] = []

    def route(environ: Any) -> str:  # called only when the request's details are read
        routes.append(environ["PATH_INFO"])
        return "/courses/{course_id}"

    app = WsgiCaptureMiddleware(_wsgi_page, settings_for_tests(), recorder=sink, route=route)  # type: ignore[arg-type]
    for cookie in (None, "session=abc; theme=dark", "xccaudit_consent"):
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/courses/1", "REMOTE_ADDR": "198.51.100.4"}
        if cookie is not None:
            environ["HTTP_COOKIE"] = cookie
        body = app(environ, lambda status, headers, exc_info=None: None)
        list(body)
        body.close()  # type: ignore[attr-defined]
    assert routes == []
    assert sink.events == []

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/courses/2", "HTTP_COOKIE": "session=abc; " + consent_cookie()}
    body = app(environ, lambda status, headers, exc_info=None: None)
    list(body)
    body.close()  # type: ignore[attr-defined]
    assert routes == ["/courses/2"]
    assert [(v.page, v.client_ip) for v in sink.events if isinstance(v, UsageEvent)] == [("/courses/{course_id}", "")]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.one_of(cookie_values, st.sampled_from(ALL_MANAGERS).map(lambda m: m + "=1")), max_size=4),
    st.one_of(st.none(), st.sampled_from(["1", "0", ""])),
    st.one_of(st.none(), st.sampled_from(["1", "0", ""])),
)
def test_the_cookie_prefilter_never_hides_a_consent_the_decision_would_grant(
    cookies: list[str], gpc: str | None, dnt: str | None
) -> None:
    core = PREFILTER_CORE
    header = "; ".join(cookies) or None
    decision = decide(core.consent, time.time_ns() // 1_000_000, header, gpc, dnt, "analytics")
    assert core.may_hold_consent(header) or not decision.analytics


def test_asgi_reads_the_cookie_header_alone_first_and_joins_split_ones() -> None:
    from ccaudit.capture.asgi import _cookie_header

    scope: dict[str, Any] = {"headers": [(b"cookie", b"a=b"), (b"user-agent", b"x"), (b"cookie", b"ccaudit_consent=1")]}
    assert _cookie_header(scope) == "a=b; ccaudit_consent=1"
    assert _cookie_header({"headers": [(b"user-agent", b"x")]}) is None
    core = APP.core
    state = core.begin("GET", "/courses/1")
    state.status, state.html = 200, True  # a successful HTML GET: a page-view candidate
    assert not core.wants_facts(state, lambda: "session=abc; theme=dark")
    assert core.wants_facts(state, lambda: "session=abc; " + consent_cookie())
    assert core.wants_facts(state)  # an adapter that cannot read the cookie alone reads everything
