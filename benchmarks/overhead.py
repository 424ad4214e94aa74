"""Request-path overhead of ccaudit beside OpenTelemetry's ASGI and WSGI middleware, measured in one run.

ASGI: variants of the same Starlette app are called in-process (no sockets: the network would drown
microseconds), interleaved block by block so machine noise hits them alike:

  bare      the app alone
  ccaudit   the app inside CaptureMiddleware as deployed by default: a real recorder and spool (its
            transport discards the batches), audit events committed to the spool before the response
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
Prints p50/p99 per variant and the added latency, and `ratio asgi=<x> wsgi=<y>`: ccaudit's added p50
over OpenTelemetry's, per interface.

Durability (audited admin POSTs only, interleaved the same way, in-process for ASGI and WSGI): the app
bare, with OpenTelemetry, and with ccaudit under each ``CCAUDIT_DURABILITY``: ``deferred`` (the
asynchronous path: events in memory, written by the recorder's thread), ``process`` (the default:
written to the spool before the response), ``power`` (also fsynced before the response), and a
strict route (fsynced, 503 if it cannot be kept). Then the same audited POSTs over HTTP to two
gunicorn servers of four workers each (``--preload``, one spool per server shared by its workers),
``deferred`` and ``process``, from four concurrent clients, interleaved block by block, timed inside
the workers (wall time, and the thread's CPU time: with more busy processes than cores the wall time
also holds the waits for a core) and by the clients. Ends with `durable asgi_added_p50_us=<x>
wsgi_added_p50_us=<y> prefork_added_p50_us=<z> prefork_added_cpu_p50_us=<c>`: the default minus the
asynchronous path on the same audited requests (goal: at most 25), and the same for ``power``.

Usage: python benchmarks/overhead.py [--requests N] [--audited N] [--prefork N]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import http.client
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
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


def spooled_recorder(folder: Path, name: str) -> Recorder:
    """A recorder as deployed (default flush interval), with a spool of its own on disk, shipping nowhere."""
    return Recorder(Discard(), platform="bench", spool=Spool(folder / f"{name}.sqlite3"))


def build(folder: Path) -> tuple[dict[str, Any], Recorder, TracerProvider]:
    # As deployed by default: audit events committed to the durable spool before the response.
    recorder = spooled_recorder(folder, "mix")
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(NoopExporter()))
    apps = {
        "bare": bare_app(),
        "ccaudit": CaptureMiddleware(bare_app(), Settings(platform="bench"), resolver=actor, recorder=recorder),
        "otel": OpenTelemetryMiddleware(bare_app(), tracer_provider=provider),
    }
    return apps, recorder, provider


# The durability variants: CCAUDIT_DURABILITY, plus a strict route under the default.
DURABILITY: dict[str, dict[str, Any]] = {
    "deferred": {"durability": "deferred"},
    "process": {},
    "power": {"durability": "power"},
    "strict": {"strict_paths": ("/admin/items/*",)},
}


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


def build_wsgi(folder: Path) -> tuple[dict[str, Any], Recorder, TracerProvider]:
    recorder = spooled_recorder(folder, "wsgi-mix")
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


def wsgi_block(
    app: Any,
    n: int,
    samples: list[float],
    per_kind: dict[str, list[float]],
    requests: list[tuple[str, str, bool]] = REQUESTS,
) -> None:
    clock = time.perf_counter_ns
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        statuses.append(status)
        return None

    for i in range(n):
        method, path, consented = requests[i % len(requests)]
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
    with tempfile.TemporaryDirectory(dir=spool_home()) as folder:
        return _run_wsgi(total, block_size, Path(folder))


def _run_wsgi(total: int, block_size: int, folder: Path) -> float:
    apps, recorder, provider = build_wsgi(folder)
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


def spool_home() -> str:
    """Where the benchmark's spools go: the default spool folder's file system (a real disk, so that an
    fsync costs what it costs), in a temporary folder of their own."""
    state = os.environ.get("XDG_STATE_HOME", "")
    base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    base.mkdir(parents=True, exist_ok=True)
    return str(base)


async def run(total: int, block_size: int) -> float:
    with tempfile.TemporaryDirectory(dir=spool_home()) as folder:
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
    print("ASGI (Starlette); ccaudit as deployed: audit events committed to the spool before the response")
    return report(samples, kinds, recorder)


# --- durability: audited admin POSTs only ---


def durability_asgi(folder: Path) -> tuple[dict[str, Any], list[Recorder], TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(NoopExporter()))
    apps: dict[str, Any] = {"bare": bare_app(), "otel": OpenTelemetryMiddleware(bare_app(), tracer_provider=provider)}
    recorders = []
    for name, extra in DURABILITY.items():
        recorder = spooled_recorder(folder, f"asgi-{name}")
        recorders.append(recorder)
        settings = Settings(platform="bench", **extra)
        apps[name] = CaptureMiddleware(bare_app(), settings, resolver=actor, recorder=recorder)
    return apps, recorders, provider


def durability_wsgi(folder: Path) -> tuple[dict[str, Any], list[Recorder], TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(NoopExporter()))
    with_otel = flask_app()
    with_otel.wsgi_app = WsgiOpenTelemetryMiddleware(with_otel.wsgi_app, tracer_provider=provider)  # type: ignore[method-assign]
    apps: dict[str, Any] = {"bare": flask_app(), "otel": with_otel}
    recorders = []
    for name, extra in DURABILITY.items():
        recorder = spooled_recorder(folder, f"wsgi-{name}")
        recorders.append(recorder)
        app = flask_app()
        CCAudit(app, Settings(platform="bench", **extra), resolver=actor, recorder=recorder)
        apps[name] = app
    return apps, recorders, provider


POST_ONLY = [("POST", "/admin/items/42", True)]


async def asgi_posts(app: Any, n: int, samples: list[float]) -> None:
    clock = time.perf_counter_ns
    for _ in range(n):
        start = clock()
        status = await call(app, "POST", "/admin/items/42")
        samples.append((clock() - start) / 1000.0)
        if status != 200:
            raise RuntimeError(f"unexpected status {status}")


def wsgi_posts(app: Any, n: int, samples: list[float]) -> None:
    wsgi_block(app, n, samples, {"GET": [], "POST": []}, POST_ONLY)


def rounds(names: list[str], count: int) -> list[list[str]]:
    """The order of the blocks, round by round: who goes first rotates."""
    return [names[r % len(names) :] + names[: r % len(names)] for r in range(count)]


def interleave(names: list[str], count: int, run_block: Callable[[str], None]) -> None:
    for order in rounds(names, count):
        gc.collect()
        for name in order:
            run_block(name)


def report_durability(title: str, samples: dict[str, list[float]]) -> float:
    """Prints the audited requests' table; returns the default's added p50 over the asynchronous path."""
    print(f"{title}: audited admin POSTs only, {len(samples['bare'])} per variant")
    base50 = pct(samples["deferred"], 0.5)
    print(f"{'variant':10} {'p50 µs':>9} {'p99 µs':>9}  {'over deferred p50':>17}")
    for name, values in samples.items():
        p50, p99 = pct(values, 0.5), pct(values, 0.99)
        over = f"{p50 - base50:17.1f}" if name in DURABILITY else f"{'':17}"
        print(f"{name:10} {p50:9.1f} {p99:9.1f}  {over}")
    return pct(samples["process"], 0.5) - base50


def power_added(samples: dict[str, list[float]]) -> float:
    return pct(samples["power"], 0.5) - pct(samples["deferred"], 0.5)


async def run_durability_asgi(total: int, block_size: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(dir=spool_home()) as folder:
        apps, recorders, provider = durability_asgi(Path(folder))
        samples: dict[str, list[float]] = {name: [] for name in apps}
        for app in apps.values():
            await asgi_posts(app, 1000, [])  # warm-up
        for order in rounds(list(apps), max(1, total // block_size)):
            gc.collect()
            for name in order:
                await asgi_posts(apps[name], block_size, samples[name])
        for recorder in recorders:
            recorder.shutdown(5)
        provider.shutdown()
    return samples


def run_durability_wsgi(total: int, block_size: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(dir=spool_home()) as folder:
        apps, recorders, provider = durability_wsgi(Path(folder))
        samples: dict[str, list[float]] = {name: [] for name in apps}
        for app in apps.values():
            wsgi_posts(app, 1000, [])  # warm-up
        interleave(
            list(apps), max(1, total // block_size), lambda name: wsgi_posts(apps[name], block_size, samples[name])
        )
        for recorder in recorders:
            recorder.shutdown(5)
        provider.shutdown()
    return samples


# --- four gunicorn workers writing one spool, over HTTP ---

PREFORK_WORKERS = 4
PREFORK_CLIENTS = 4


class _TimedBody:
    """The response body, wrapped to time the request to its end, as the in-process WSGI bench does."""

    def __init__(self, inner: Any, started: tuple[int, int], record: Callable[[int, int], None]) -> None:
        self._inner, self._started, self._record = inner, started, record

    def __iter__(self) -> Any:
        return iter(self._inner)

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()
        wall, cpu = self._started
        self._record(time.perf_counter_ns() - wall, time.thread_time_ns() - cpu)


class Timed:
    """Times each POST inside the worker (no HTTP, no client in the figure) and appends its wall time
    and its thread's CPU time, in microseconds, to a file of the worker's own in ``folder``. With more
    busy processes than cores, the wall time also holds the waits for a core, which grow with any
    work; the CPU time is the work alone."""

    def __init__(self, app: Any, folder: Path) -> None:
        self.app, self.folder = app, folder
        self._fd, self._pid = -1, -1

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        started = (time.perf_counter_ns(), time.thread_time_ns())
        return _TimedBody(self.app(environ, start_response), started, self._record)

    def _record(self, wall_ns: int, cpu_ns: int) -> None:
        if self._pid != os.getpid():  # a forked worker: a file of its own
            self._pid = os.getpid()
            self._fd = os.open(self.folder / f"times-{self._pid}.txt", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.write(self._fd, f"{wall_ns / 1000.0:.2f} {cpu_ns / 1000.0:.2f}\n".encode())


def prefork_app() -> Any:
    """The WSGI app one benchmark gunicorn runs (``overhead:prefork_app()``): the Flask app with ccaudit,
    settings from the environment, the spool at CCAUDIT_SPOOL_PATH shared by the server's workers; each
    POST timed inside the worker (BENCH_TIMES_DIR)."""
    from ccaudit import load_settings

    settings = load_settings()
    app = flask_app()
    recorder = Recorder(Discard(), platform=settings.platform, spool=Spool(settings.spool_file))
    CCAudit(app, settings, resolver=actor, recorder=recorder)
    return Timed(app, Path(os.environ["BENCH_TIMES_DIR"]))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_gunicorn(folder: Path, durability: str) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCAUDIT_")}
    times = folder / f"times-{durability}"
    times.mkdir()
    env.update(CCAUDIT_PLATFORM="bench", CCAUDIT_DURABILITY=durability, BENCH_TIMES_DIR=str(times),
               CCAUDIT_SPOOL_PATH=str(folder / f"prefork-{durability}.sqlite3"))  # fmt: skip
    args = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(PREFORK_WORKERS),
            "--preload", "--log-level", "warning", "--chdir", str(Path(__file__).parent),
            "overhead:prefork_app()"]  # fmt: skip
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if http_request(port, "GET", "/page") == 200:
                return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"gunicorn ({durability}) did not start")


def http_request(port: int, method: str, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, headers={"Cookie": COOKIE.decode()})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def prefork_block(port: int, n: int, samples: list[float]) -> None:
    """``n`` audited POSTs from PREFORK_CLIENTS concurrent clients, each timed from the client."""
    lock = threading.Lock()
    per_client = n // PREFORK_CLIENTS

    def client() -> None:
        mine = []
        for _ in range(per_client):
            start = time.perf_counter_ns()
            status = http_request(port, "POST", "/admin/items/42")
            mine.append((time.perf_counter_ns() - start) / 1000.0)
            if status != 200:
                raise RuntimeError(f"unexpected status {status}")
        with lock:
            samples.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(PREFORK_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def run_prefork(total: int, block_size: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Times of the audited POSTs inside the workers, per variant: (wall, CPU). Prints them beside what
    the clients saw over HTTP."""
    warm_up = 400
    with tempfile.TemporaryDirectory(dir=spool_home()) as folder:
        servers = {name: start_gunicorn(Path(folder), name) for name in ("deferred", "process")}
        client: dict[str, list[float]] = {name: [] for name in servers}
        try:
            for _, port in servers.values():
                prefork_block(port, warm_up, [])
            interleave(list(servers), max(1, total // block_size),
                       lambda name: prefork_block(servers[name][1], block_size, client[name]))  # fmt: skip
        finally:
            for proc, _ in servers.values():
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
        wall: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}
        for name in servers:
            files = sorted((Path(folder) / f"times-{name}").glob("times-*.txt"))
            # In order of arrival per worker; the warm-up's share of each worker is dropped.
            rows = [[line.split() for line in f.read_text().splitlines()] for f in files]
            share = warm_up // max(1, len(rows))
            wall[name] = [float(r[0]) for worker in rows for r in worker[share:]]
            cpu[name] = [float(r[1]) for worker in rows for r in worker[share:]]
    print(
        f"WSGI (Flask) under gunicorn, {PREFORK_WORKERS} workers sharing one spool per server, {PREFORK_CLIENTS} "
        f"concurrent clients over HTTP: audited admin POSTs only, {len(client['process'])} per variant"
    )
    for title, table in (("wall time in the workers", wall), ("CPU time in the workers", cpu),
                         ("seen by the clients, HTTP included", client)):  # fmt: skip
        print(f"{'variant':10} {'p50 µs':>9} {'p99 µs':>9}  {'over deferred p50':>17}   ({title})")
        for name, values in table.items():
            over = pct(values, 0.5) - pct(table["deferred"], 0.5)
            print(f"{name:10} {pct(values, 0.5):9.1f} {pct(values, 0.99):9.1f}  {over:17.1f}")
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=60_000, help="requests per variant (mixed traffic)")
    parser.add_argument("--block", type=int, default=2_000, help="requests per interleaved block")
    parser.add_argument("--audited", type=int, default=20_000, help="audited POSTs per durability variant")
    parser.add_argument("--prefork", type=int, default=8_000, help="audited POSTs per gunicorn server")
    args = parser.parse_args()
    asgi = asyncio.run(run(args.requests, args.block))
    wsgi = run_wsgi(args.requests, args.block)
    print(f"ratio asgi={asgi:.3f} wsgi={wsgi:.3f}")
    print()
    asgi_samples = asyncio.run(run_durability_asgi(args.audited, 1000))
    asgi_added = report_durability("ASGI (Starlette)", asgi_samples)
    wsgi_samples = run_durability_wsgi(args.audited, 1000)
    wsgi_added = report_durability("WSGI (Flask)", wsgi_samples)
    wall, cpu = run_prefork(args.prefork, 400)
    prefork_added = pct(wall["process"], 0.5) - pct(wall["deferred"], 0.5)
    prefork_cpu = pct(cpu["process"], 0.5) - pct(cpu["deferred"], 0.5)
    print(
        f"durable asgi_added_p50_us={asgi_added:.1f} wsgi_added_p50_us={wsgi_added:.1f} "
        f"prefork_added_p50_us={prefork_added:.1f} prefork_added_cpu_p50_us={prefork_cpu:.1f}"
    )
    print(f"power asgi_added_p50_us={power_added(asgi_samples):.1f} wsgi_added_p50_us={power_added(wsgi_samples):.1f}")


if __name__ == "__main__":
    main()
