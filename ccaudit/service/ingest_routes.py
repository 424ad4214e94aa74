"""``POST /v1/events``: the ingest endpoint. A 2xx means the batch is stored."""

from __future__ import annotations

import json
import threading

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from ccaudit.errors import IngestError, StoreError, StoreUnavailable
from ccaudit.ingest import Ingestor

MAX_BODY = 16 * 1024 * 1024


class IngestCounters:
    """Counters shown by /health."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values = {"batches": 0, "events": 0, "rejected_batches": 0, "store_errors": 0}

    def add(self, **deltas: int) -> None:
        with self._lock:
            for key, n in deltas.items():
                self.values[key] += n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.values)


def _error(status: int, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


async def _read_body(request: Request) -> bytes | None:
    """The body, or None once it exceeds MAX_BODY (read no further than that)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def make_ingest_endpoint(ingestor: Ingestor, counters: IngestCounters):  # type: ignore[no-untyped-def]
    async def ingest(request: Request) -> JSONResponse:
        try:
            body = await _read_body(request)
        except ClientDisconnect:
            return _error(400, "client disconnected")
        if body is None:
            return _error(413, f"body larger than {MAX_BODY} bytes")
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            counters.add(rejected_batches=1)
            return _error(400, f"malformed JSON: {exc}")
        try:
            result = await run_in_threadpool(ingestor.ingest, data)
        except IngestError as exc:
            counters.add(rejected_batches=1)
            problems = [{"index": i, "reason": r} for i, r in exc.problems]
            return _error(400, "invalid batch", problems=problems)
        except StoreUnavailable as exc:
            counters.add(store_errors=1)
            return JSONResponse({"error": f"store unavailable: {exc}"}, status_code=503, headers={"Retry-After": "5"})
        except StoreError as exc:
            counters.add(store_errors=1)
            return _error(500, f"store error: {exc}")
        counters.add(batches=1, events=result.accepted)
        return JSONResponse({"batch_id": result.batch_id, "accepted": result.accepted})

    return ingest
