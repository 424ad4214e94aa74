"""Fuzzed requests through the WSGI middleware: the platform never breaks because of ccaudit."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccaudit import Identity, WsgiCaptureMiddleware
from tests.capture.test_fuzz_headers import header_values, methods, paths
from tests.conftest import MemorySink, settings_for_tests

header_names = st.one_of(
    st.sampled_from(
        ["HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_USER_AGENT", "HTTP_X_REQUEST_ID", "HTTP_COOKIE",
         "HTTP_X_TEST_USER", "HTTP_HOST", "REMOTE_ADDR", "SCRIPT_NAME", "ccaudit.route"]
    ),
    st.text(min_size=1, max_size=40),
)  # fmt: skip
# WSGI servers hand header values over as latin-1 decoded text ("native strings", PEP 3333).
native = header_values.map(lambda raw: raw.decode("latin-1"))


def resolver(environ: Any) -> Identity | None:
    user = environ.get("HTTP_X_TEST_USER")
    return Identity(account_id=str(user)) if user else None


SINK = MemorySink()
APP_CALLS: list[int] = []


def app(environ: Any, start_response: Any) -> Iterable[bytes]:
    APP_CALLS.append(1)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


RECORDER: Any = SINK
MIDDLEWARE = WsgiCaptureMiddleware(
    app,
    settings_for_tests(trusted_proxies=("0.0.0.0/0", "::/0"), personal_data_paths=("/people/*",)),
    resolver=resolver,
    recorder=RECORDER,
)
MIDDLEWARE_FWD = WsgiCaptureMiddleware(
    app,
    settings_for_tests(trusted_proxies=("0.0.0.0/0", "::/0"), proxy_header="forwarded"),
    resolver=resolver,
    recorder=RECORDER,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(methods, paths, st.lists(st.tuples(header_names, native), max_size=12), st.booleans())
def test_fuzzed_headers_never_break_the_platform(
    method: str, path: str, headers: list[tuple[str, str]], forwarded: bool
) -> None:
    APP_CALLS.clear()
    SINK.events.clear()
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "", "REMOTE_ADDR": ""}
    environ.update(headers)
    statuses: list[str] = []

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        statuses.append(status)
        return lambda data: None

    middleware = MIDDLEWARE_FWD if forwarded else MIDDLEWARE
    errors_before = middleware.core.errors
    result = middleware(environ, start_response)  # raises nothing
    try:
        body = b"".join(result)
    finally:
        result.close()  # type: ignore[attr-defined]
    assert APP_CALLS == [1]
    assert statuses == ["200 OK"]
    assert body == b"ok"
    assert middleware.core.errors == errors_before  # no internal failure either
    for event in SINK.events:
        assert len(event.user_agent) <= 1024
        assert len(event.request_id) <= 128
        assert len(event.route) <= 1024
