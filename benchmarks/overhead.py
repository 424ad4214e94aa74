"""Request-path overhead of ccaudit beside OpenTelemetry's ASGI and WSGI middleware, measured in one run.

ASGI: three variants of the same Starlette app are called in-process (no sockets: the network would
drown microseconds), interleaved block by block so machine noise hits them alike:

  bare      the app alone
  ccaudit   the app inside CaptureMiddleware, with a real recorder (worker thread, batching) whose
            transport discards the batches
  otel      the app inside opentelemetry-instrumentation-asgi's middleware, SDK tracer provider with a
            BatchSpanProcessor on a no-op exporter (the usual production set-up)

WSGI: the same three for a Flask app (ccaudit through its Flask extension, OpenTelemetry through
opentelemetry-instrumentation-wsgi's middleware on the same kind of tracer provider), called with an
environ built here; the body is consumed and closed as a server does. A fourth WSGI variant, floor,
is the least any WSGI capture must do (wrap ``start_response`` for the status and the body for the
end of the response, and time the request) and nothing else: the cost of being a WSGI middleware at
all, inside Flask, apart from what ccaudit does.

The mix is 20% admin POSTs by an authenticated actor (audited) and 80% public HTML GETs, half by a
visitor whose consent cookie allows analytics (the cookie is parsed and a page view recorded, the
most expensive path a public GET can take) and half by one who did not answer the banner.
Prints p50/p99 per variant and the added latency, and ends with `ratio asgi=<x> wsgi=<y>`: ccaudit's
added p50 over OpenTelemetry's, per interface. Usage: python benchmarks/overhead.py [--requests N]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flask import Flask
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware as WsgiOpenTelemetryMiddleware
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from ccaudit import CaptureMiddleware, Identity, Settings
from ccaudit.consent import ConsentRecord, encode_consent_cookie
from ccaudit.integrations.flask import CCAudit
from ccaudit.shipping.recorder import Recorder
from ccaudit.shipping.spool import Spool


class NoopExporter(SpanExporter):
    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class Discard:
    def send(self, payload: bytes) -> None:
        pass


async def page(request: Request) -> Response:
    return HTMLResponse("<p>hello</p>")


async def admin_edit(request: Request) -> Response:
    return PlainTextResponse("saved")


def bare_app() -> Starlette:
    return Starlette(routes=[Route("/page", page), Route("/admin/items/{item_id}", admin_edit, methods=["POST"])])


def actor(scope: Any) -> Identity | None:
    return Identity(account_id="alice", organisation="org", role="admin")


def build(folder: Path) -> tuple[dict[str, Any], Recorder, TracerProvider]:
    # As deployed by default: audit events go through the durable spool (written by the recorder's
    # thread, off the request path). "strict" writes each admin POST's event to the spool before its
    # response: measured separately, it is the price of that guarantee, not the default.
    recorder = Recorder(Discard(), platform="bench", spool=Spool(folder / "spool.sqlite3"), flush_interval=0.2)
    strict_recorder = Recorder(Discard(), platform="bench", spool=Spool(folder / "strict.sqlite3"), flush_interval=0.2)
    strict = Settings(platform="bench", strict_paths=("/admin/items/*",))
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(NoopExporter()))
    apps = {
        "bare": bare_app(),
        "ccaudit": CaptureMiddleware(bare_app(), Settings(platform="bench"), resolver=actor, recorder=recorder),
        "otel": OpenTelemetryMiddleware(bare_app(), tracer_provider=provider),
        "strict": CaptureMiddleware(bare_app(), strict, resolver=actor, recorder=strict_recorder),
    }
    return apps, recorder, provider


def _consent() -> bytes:
    now = time.time_ns() // 1_000_000
    record = ConsentRecord("0b9f3c1e-5a3d-4c1b-9a7e-3f2d1c0b9a8e", 1, frozenset({"necessary", "analytics"}), now, now)
    return encode_consent_cookie(record).encode()


COOKIE = b"session=abc; theme=dark; ccaudit_consent=" + _consent()
HEADERS = [
    (b"host", b"platform.example"),
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0"),
    (b"accept", b"text/html"),
    (b"referer", b"https://news.example.org/today"),
    (b"cookie", COOKIE),
]


# Visitors without our consent cookie: their GETs are decided (no consent) but record nothing.
HEADERS_NO_CONSENT = [h for h in HEADERS if h[0] != b"cookie"] + [(b"cookie", b"session=abc; theme=dark")]


def scope_for(method: str, path: str, consented: bool = True) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
        "headers": HEADERS if consented else HEADERS_NO_CONSENT,
        "client": ("198.51.100.7", 50000), "server": ("127.0.0.1", 8000),
    }  # fmt: skip


# 20% audited admin POSTs; the public GETs alternate between a visitor who accepted analytics and one
# who did not answer the banner.
REQUESTS = [("POST", "/admin/items/42", True) if i % 5 == 0 else ("GET", "/page", i % 2 == 0) for i in range(10)]


async def call(app: Any, method: str, path: str, consented: bool = True) -> int:
    scope = scope_for(method, path, consented)
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def block(app: Any, n: int, samples: list[float], per_kind: dict[str, list[float]]) -> None:
    clock = time.perf_counter_ns
    for i in range(n):
        method, path, consented = REQUESTS[i % len(REQUESTS)]
        start = clock()
        status = await call(app, method, path, consented)
        elapsed = (clock() - start) / 1000.0
        if status != 200:
            raise RuntimeError(f"unexpected status {status}")
        samples.append(elapsed)
        per_kind[method].append(elapsed)


def flask_app() -> Flask:
    app = Flask("bench")

    @app.get("/page")
    def flask_page() -> str:
        return "<p>hello</p>"  # Flask answers text/html

    @app.post("/admin/items/<int:item_id>")
    def flask_admin_edit(item_id: int) -> str:
        return "saved"

    return app


class _FloorBody:
    """The response body, wrapped to see its end: what every WSGI capture middleware does."""

    __slots__ = ("_inner", "_on_close")

    def __init__(self, inner: Any, on_close: Any) -> None:
        self._inner, self._on_close = inner, on_close

    def __iter__(self) -> Any:
        return iter(self._inner)

    def close(self) -> None:
        try:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
        finally:
            self._on_close()


def floor(app: Any) -> Any:
    """A WSGI middleware that captures status and duration, and records nothing."""

    def middleware(environ: dict[str, Any], start_response: Any) -> Any:
        started = time.perf_counter()
        seen: list[str] = []

        def capture_start(status: str, headers: Any, exc_info: Any = None) -> Any:
            seen.append(status)
            return start_response(status, headers, exc_info)

        def ended() -> None:
            environ["floor.took"] = (seen, time.perf_counter() - started)

        return _FloorBody(app(environ, capture_start), ended)

    return middleware


def build_wsgi() -> tuple[dict[str, Any], Recorder, TracerProvider]:
    recorder = Recorder(Discard(), platform="bench", flush_interval=0.2)
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(NoopExporter()))
    with_ccaudit = flask_app()
    CCAudit(with_ccaudit, Settings(platform="bench"), resolver=actor, recorder=recorder)
    with_otel = flask_app()
    with_otel.wsgi_app = WsgiOpenTelemetryMiddleware(with_otel.wsgi_app, tracer_provider=provider)  # type: ignore[method-assign]
    with_floor = flask_app()
    with_floor.wsgi_app = floor(with_floor.wsgi_app)  # type: ignore[method-assign]
    apps = {"bare": flask_app(), "ccaudit": with_ccaudit, "otel": with_otel, "floor": with_floor}
    return apps, recorder, provider


def environ_for(method: str, path: str, consented: bool = True) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "198.51.100.7", "REMOTE_PORT": "50000", "HTTP_HOST": "platform.example",
        "HTTP_USER_AGENT": HEADERS[1][1].decode(), "HTTP_ACCEPT": "text/html",
        "HTTP_COOKIE": COOKIE.decode() if consented else "session=abc; theme=dark",
        "HTTP_REFERER": "https://news.example.org/today", "CONTENT_LENGTH": "0",
        "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr, "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
    }  # fmt: skip


def wsgi_block(app: Any, n: int, samples: list[float], per_kind: dict[str, list[float]]) -> None:
    clock = time.perf_counter_ns
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        statuses.append(status)
        return None

    for i in range(n):
        method, path, consented = REQUESTS[i % len(REQUESTS)]
        environ = environ_for(method, path, consented)
        start = clock()
        result = app(environ, start_response)
        try:
            for _chunk in result:
                pass
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        elapsed = (clock() - start) / 1000.0
        if statuses.pop() != "200 OK":
            raise RuntimeError("unexpected status")
        samples.append(elapsed)
        per_kind[method].append(elapsed)


def run_wsgi(total: int, block_size: int) -> float:
    apps, recorder, provider = build_wsgi()
    samples: dict[str, list[float]] = {name: [] for name in apps}
    kinds: dict[str, dict[str, list[float]]] = {name: {"GET": [], "POST": []} for name in apps}
    for app in apps.values():  # warm-up
        wsgi_block(app, 2000, [], {"GET": [], "POST": []})
    rounds = max(1, total // block_size)
    order = list(apps)
    for r in range(rounds):
        gc.collect()
        first = r % len(order)
        for name in order[first:] + order[:first]:
            wsgi_block(apps[name], block_size, samples[name], kinds[name])
    recorder.shutdown(5)
    provider.shutdown()
    print("WSGI (Flask)")
    return report(samples, kinds, recorder)


def report(samples: dict[str, list[float]], kinds: dict[str, dict[str, list[float]]], recorder: Recorder) -> float:
    """Prints the table; returns ccaudit's added p50 over OpenTelemetry's."""
    bare50, bare99 = pct(samples["bare"], 0.5), pct(samples["bare"], 0.99)
    print(
        f"requests per variant: {len(samples['bare'])} (20% audited admin POST, 80% public GET, half of them consented)"
    )
    print(f"{'variant':10} {'p50 µs':>9} {'p99 µs':>9} {'added p50':>10} {'added p99':>10}  GET/POST p50")
    added: dict[str, float] = {}
    for name in samples:
        p50, p99 = pct(samples[name], 0.5), pct(samples[name], 0.99)
        added[name] = p50 - bare50
        get50 = statistics.median(kinds[name]["GET"])
        post50 = statistics.median(kinds[name]["POST"])
        print(f"{name:10} {p50:9.1f} {p99:9.1f} {p50 - bare50:10.1f} {p99 - bare99:10.1f}  {get50:.1f}/{post50:.1f}")
    if "floor" in added:
        above = added["ccaudit"] - added["floor"]
        print(f"ccaudit above the floor (the least any WSGI capture costs): {above:.1f} µs at p50")
    stats = recorder.stats()
    print(f"ccaudit recorder: emitted={stats['emitted']} shipped={stats['shipped']} dropped={stats['dropped']}")
    return added["ccaudit"] / added["otel"] if added["otel"] > 0 else float("nan")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(total: int, block_size: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        return await _run(total, block_size, Path(folder))


async def _run(total: int, block_size: int, folder: Path) -> float:
    apps, recorder, provider = build(folder)
    samples: dict[str, list[float]] = {name: [] for name in apps}
    kinds: dict[str, dict[str, list[float]]] = {name: {"GET": [], "POST": []} for name in apps}
    for app in apps.values():  # warm-up: imports, caches, first-route compilation
        await block(app, 2000, [], {"GET": [], "POST": []})
    rounds = max(1, total // block_size)
    order = list(apps)
    for r in range(rounds):
        gc.collect()
        first = r % len(order)
        for name in order[first:] + order[:first]:  # rotate who goes first
            await block(apps[name], block_size, samples[name], kinds[name])
    for app in apps.values():
        if isinstance(app, CaptureMiddleware):
            app.recorder.shutdown(5)
    provider.shutdown()
    print("ASGI (Starlette); ccaudit with the spool as deployed; strict: admin POSTs on disk before responding")
    return report(samples, kinds, recorder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=60_000, help="requests per variant")
    parser.add_argument("--block", type=int, default=2_000, help="requests per interleaved block")
    args = parser.parse_args()
    asgi = asyncio.run(run(args.requests, args.block))
    wsgi = run_wsgi(args.requests, args.block)
    print(f"ratio asgi={asgi:.3f} wsgi={wsgi:.3f}")


if __name__ == "__main__":
    main()
