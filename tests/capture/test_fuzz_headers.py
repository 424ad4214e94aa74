"""Fuzzed requests through the ASGI middleware: the platform never breaks because of ccaudit."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccaudit import CaptureMiddleware, Identity
from tests.conftest import MemorySink, settings_for_tests

header_names = st.one_of(
    st.sampled_from(
        [b"x-forwarded-for", b"forwarded", b"user-agent", b"x-request-id", b"cookie", b"x-test-user", b"host"]
    ),
    st.binary(min_size=1, max_size=40),
)
header_values = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda t: t.encode("utf-8")),
    st.lists(st.one_of(st.ip_addresses().map(str), st.text(max_size=15)), max_size=50).map(
        lambda parts: ", ".join(parts).encode("utf-8", "surrogatepass")
    ),
    st.integers(min_value=10_000, max_value=200_000).map(lambda n: b"A" * n),  # huge
    st.sampled_from([b'for="[::1', b"for=;for=,,,", b"\xff\xfe\x00", b'=;=,"', b"a=b; c=%zz; ;;"]),
)
peers = st.one_of(
    st.none(), st.tuples(st.one_of(st.ip_addresses().map(str), st.text(max_size=20)), st.integers(0, 65535))
)
methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "BREW", ""])
paths = st.one_of(st.sampled_from(["/admin/x", "/login", "/logout", "/", "/people/1"]), st.text(max_size=100))


def resolver(scope: Any) -> Identity | None:
    for name, value in scope.get("headers") or ():
        if name == b"x-test-user":
            return Identity(account_id=value.decode("latin-1"))
    return None


SINK = MemorySink()
APP_CALLS: list[int] = []


async def app(scope: Any, receive: Any, send: Any) -> None:
    APP_CALLS.append(1)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


RECORDER: Any = SINK
MIDDLEWARE = CaptureMiddleware(
    app,
    settings_for_tests(trusted_proxies=("0.0.0.0/0", "::/0"), personal_data_paths=("/people/*",)),
    resolver=resolver,
    recorder=RECORDER,
)
MIDDLEWARE_FWD = CaptureMiddleware(
    app,
    settings_for_tests(trusted_proxies=("0.0.0.0/0", "::/0"), proxy_header="forwarded"),
    resolver=resolver,
    recorder=RECORDER,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    methods,
    paths,
    st.lists(st.tuples(header_names, header_values), max_size=12),
    peers,
    st.booleans(),
)
def test_fuzzed_headers_never_break_the_platform(
    method: str, path: str, headers: list[tuple[bytes, bytes]], peer: Any, forwarded: bool
) -> None:
    APP_CALLS.clear()
    SINK.events.clear()
    scope = {"type": "http", "method": method, "path": path, "headers": headers, "client": peer, "root_path": ""}
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    middleware = MIDDLEWARE_FWD if forwarded else MIDDLEWARE
    errors_before = middleware.core.errors
    asyncio.run(middleware(scope, receive, send))  # raises nothing
    assert APP_CALLS == [1]
    assert statuses == [200]
    assert middleware.core.errors == errors_before  # no internal failure either
    for event in SINK.events:
        assert len(event.user_agent) <= 1024
        assert len(event.request_id) <= 128
