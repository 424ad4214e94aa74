"""``POST /v1/events``: the ingest endpoint. A 2xx means the batch is stored.

Contract (documented in the README and in ``GET /v1/openapi.json``):

- ``Authorization: Bearer <platform ingest token>``; the platform comes from the token. 401 without
  a valid token; 403 when the batch names another platform.
- ``Content-Type: application/json`` (415 otherwise). ``Content-Encoding: gzip`` accepted: one gzip
  member and nothing after it. 413 above ``MAX_BODY`` bytes, compressed or not.
- 400 for malformed JSON or an invalid batch, naming each invalid event's index and reason; nothing
  of a refused batch is stored. 409 when the batch would rewrite stored events (an event id stored
  with other content, or by another platform), naming them; the attempt is recorded.
- 429 with ``Retry-After`` when the token exceeds its rate; 503 with ``Retry-After`` when the store
  is unavailable.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from opentelemetry import metrics, trace
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from ccaudit.errors import IngestError, OtherPlatform, RewriteRefused, StoreError, StoreUnavailable
from ccaudit.ingest import Ingestor, IngestResult
from ccaudit.service.ratelimit import RateLimiter
from ccaudit.store.tokens import TokenStore
from ccaudit.wire import MAX_BATCH_BYTES

MAX_BODY = MAX_BATCH_BYTES
log = logging.getLogger("ccaudit.service")


class IngestCounters:
    """Counters shown by /health."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values = {
            "batches": 0,
            "events": 0,
            "rejected_batches": 0,
            "unauthorised": 0,
            "rate_limited": 0,
            "store_errors": 0,
            "rewrites_refused": 0,
            "scrubbed": 0,
        }

    def add(self, **deltas: int) -> None:
        with self._lock:
            for key, n in deltas.items():
                self.values[key] += n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.values)


class _TooLarge(Exception):
    pass


class _Malformed(Exception):
    pass


def _decode_and_ingest(ingestor: Ingestor, body: bytes, platform: str) -> IngestResult:
    try:
        return ingestor.ingest_json(body, platform=platform)
    except orjson.JSONDecodeError as exc:
        raise _Malformed(str(exc)) from None


def _error(status: int, message: str, headers: dict[str, str] | None = None, **extra: object) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


async def _read_body(request: Request) -> bytes:
    """The (decompressed) body; _TooLarge past MAX_BODY, read no further than that."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise _TooLarge
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding == "gzip":
        inflater = zlib.decompressobj(wbits=31)
        body = inflater.decompress(body, MAX_BODY + 1)  # a zip bomb stops here
        if len(body) > MAX_BODY or inflater.unconsumed_tail:
            raise _TooLarge
        # zlib stops at the end of the first member: a second member or trailing bytes would be
        # silently ignored, and with them the events they hold.
        if not inflater.eof:
            raise ValueError("truncated gzip body")
        if inflater.unused_data:
            raise ValueError("data after the end of the gzip member (one member, nothing after it)")
    elif encoding != "identity":
        raise ValueError(f"unsupported Content-Encoding {encoding!r} (use gzip or none)")
    return body


# The service's OpenTelemetry instruments exist once per process: a meter keeps the first registration
# of a name and ignores later ones, so instruments made per app would report the first app's counters
# only. They observe every live app's counters (one in a service process; several in a test run).
_LIVE_COUNTERS: weakref.WeakSet[IngestCounters] = weakref.WeakSet()
_LATENCY: list[metrics.Histogram] = []
_INSTRUMENTS_LOCK = threading.Lock()


def _instruments(counters: IngestCounters) -> metrics.Histogram:
    """The service's OpenTelemetry metrics: ingest counters and the latency of stored batches."""
    with _INSTRUMENTS_LOCK:
        _LIVE_COUNTERS.add(counters)
        if _LATENCY:
            return _LATENCY[0]
        meter = metrics.get_meter("ccaudit.service")

        def observe(name: str) -> Any:
            def callback(options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
                yield metrics.Observation(sum(c.snapshot()[name] for c in list(_LIVE_COUNTERS)))

            return callback

        for name in counters.snapshot():
            meter.create_observable_counter(f"ccaudit.ingest.{name}", callbacks=[observe(name)])
        _LATENCY.append(
            meter.create_histogram("ccaudit.ingest.duration", unit="ms", description="time to store one batch")
        )
        return _LATENCY[0]


def make_ingest_endpoint(  # type: ignore[no-untyped-def]
    ingestor: Ingestor,
    tokens: TokenStore,
    limiter: RateLimiter,
    counters: IngestCounters,
    seal_heads: Callable[[str], list[dict[str, Any]]] | None = None,
):
    latency = _instruments(counters)
    tracer = trace.get_tracer("ccaudit.service")

    async def ingest(request: Request) -> JSONResponse:
        with tracer.start_as_current_span("ccaudit.ingest", kind=trace.SpanKind.SERVER) as span:
            response = await _ingest(request)
            span.set_attribute("http.response.status_code", response.status_code)
            return response

    async def _ingest(request: Request) -> JSONResponse:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        try:
            platform = await run_in_threadpool(tokens.verify, token.strip()) if scheme.lower() == "bearer" else None
        except StoreUnavailable as exc:
            counters.add(store_errors=1)
            return _error(503, f"store unavailable: {exc}", {"Retry-After": "5"})
        if platform is None:
            counters.add(unauthorised=1)
            return _error(401, "a valid ingest token is required (Authorization: Bearer cca_...)",
                          {"WWW-Authenticate": "Bearer"})  # fmt: skip
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type != "application/json":
            counters.add(rejected_batches=1)
            return _error(415, "Content-Type must be application/json")
        wait = limiter.acquire(token)
        if wait > 0:
            counters.add(rate_limited=1)
            return _error(429, "rate limit exceeded for this token", {"Retry-After": str(math.ceil(wait))})
        try:
            body = await _read_body(request)
        except ClientDisconnect:
            return _error(400, "client disconnected")
        except _TooLarge:
            counters.add(rejected_batches=1)
            return _error(413, f"body larger than {MAX_BODY} bytes")
        except (ValueError, zlib.error) as exc:
            counters.add(rejected_batches=1)
            return _error(400, f"unreadable body: {exc}")
        started = time.perf_counter()
        try:
            # Decoding, validation and the insert all run in a worker thread: a large batch must not
            # hold the event loop (and with it every other platform's requests).
            result = await run_in_threadpool(_decode_and_ingest, ingestor, body, platform)
        except _Malformed as exc:
            counters.add(rejected_batches=1)
            return _error(400, f"malformed JSON: {exc}")
        except OtherPlatform as exc:  # a credentials problem, not a bad batch
            counters.add(rejected_batches=1)
            return _error(403, f"this token writes for platform {platform!r}, not {exc.named!r}")
        except RewriteRefused as exc:
            counters.add(rejected_batches=1, rewrites_refused=len(exc.problems))
            problems = [{"index": i, "reason": r} for i, r in exc.problems]
            return _error(409, "stored events are never rewritten", problems=problems)
        except IngestError as exc:
            counters.add(rejected_batches=1)
            problems = [{"index": i, "reason": r} for i, r in exc.problems]
            return _error(400, "invalid batch", problems=problems)
        except StoreError:
            # The engine's own words stay in the service's log: they are no business of a platform's.
            log.exception("ccaudit: storing a batch of %s failed", platform)
            counters.add(store_errors=1)
            return _error(503, "the store is unavailable; send the batch again later", {"Retry-After": "5"})
        counters.add(batches=1, events=result.accepted, scrubbed=result.scrubbed)
        latency.record((time.perf_counter() - started) * 1000.0, {"platform": platform})
        trace.get_current_span().set_attributes({"ccaudit.platform": platform, "ccaudit.events": result.accepted})
        answer: dict[str, object] = {"batch_id": result.batch_id, "accepted": result.accepted}
        if result.scrubbed:
            answer["scrubbed"] = result.scrubbed  # page views stored without the value they named
        heads = seal_heads(platform) if seal_heads is not None else []
        if heads:
            # The latest seal of each of the platform's chains: kept outside, they pin the chain.
            answer["seals"] = heads
        return JSONResponse(answer)

    return ingest
