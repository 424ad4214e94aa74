"""The recorder: a bounded in-memory queue and one worker thread per process that ships batches.

``emit`` is what the request path calls: O(1), thread-safe, never blocks on I/O, never raises. When
the queue is full the event is dropped and counted (``stats()["dropped"]``): memory stays bounded and
the platform stays up. The worker wakes when a batch is full or ``flush_interval`` has passed,
ships through a transport, and retries transient failures with exponential backoff and jitter.

Lifecycle: ``force_flush(timeout) -> bool`` and ``shutdown(timeout) -> bool`` are bounded;
``shutdown`` is idempotent and also runs at interpreter exit. After ``fork()`` the child gets a
fresh, empty queue and its own worker: it never resends what its parent had queued.

Counters are plain numbers (``stats()``) and OpenTelemetry observable instruments
(``ccaudit.recorder.*``); nothing is logged from inside ``emit``.
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics

from ccaudit.events import Event
from ccaudit.ids import new_id
from ccaudit.settings import Settings
from ccaudit.shipping.transport import DeliveryError, HttpTransport, Transport
from ccaudit.wire import SCHEMA_VERSION

log = logging.getLogger("ccaudit.recorder")

_COUNTERS = ("emitted", "dropped", "shipped", "failed", "retries")


class Recorder:
    """Bounded queue + batching worker. See the module docstring for the guarantees."""

    def __init__(
        self,
        transport: Transport,
        *,
        platform: str,
        queue_size: int = 20_000,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_attempts: int = 6,
        backoff_max: float = 5.0,
        shutdown_timeout: float = 5.0,
    ) -> None:
        self.transport = transport
        self.platform = platform
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_attempts = max_attempts
        self.backoff_max = backoff_max
        self._shutdown_timeout = shutdown_timeout
        self._init_state()
        self._start()
        _register(self)

    def _init_state(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Event] = deque()
        self._wake = threading.Event()
        self._flush_waiters: list[threading.Event] = []
        self._stopping = False
        self._closed = False
        self._counts = dict.fromkeys(_COUNTERS, 0)
        self._thread: threading.Thread | None = None
        self._deadline = 0.0

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ccaudit-recorder", daemon=True)
        self._thread.start()

    # --- request path ---

    def emit(self, event: Event) -> None:
        """Queue ``event`` for shipping. O(1); drops and counts when the queue is full or closed."""
        with self._lock:
            if self._stopping or len(self._queue) >= self.queue_size:
                self._counts["dropped"] += 1
                return
            self._queue.append(event)
            self._counts["emitted"] += 1
            full = len(self._queue) >= self.batch_size
        if full:
            self._wake.set()

    # --- control ---

    def stats(self) -> dict[str, int]:
        """Counters since start (or since fork, in a child): emitted, dropped, shipped, failed,
        retries, and the current queue length as ``queued``."""
        with self._lock:
            out = dict(self._counts)
            out["queued"] = len(self._queue)
        return out

    def force_flush(self, timeout: float = 5.0) -> bool:
        """Ship everything queued now; True if that finished within ``timeout`` seconds."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return not self._queue
        done = threading.Event()
        with self._lock:
            self._flush_waiters.append(done)
        self._wake.set()
        return done.wait(max(0.0, timeout))

    def shutdown(self, timeout: float | None = None) -> bool:
        """Stop accepting events, ship what is queued, stop the worker. Idempotent and bounded.

        Returns True if the worker finished within ``timeout`` (default: the configured one).
        """
        limit = self._shutdown_timeout if timeout is None else timeout
        with self._lock:
            self._stopping = True
            self._deadline = time.monotonic() + limit
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, limit))
            if thread.is_alive():
                log.error("ccaudit: recorder did not finish within %.1fs; %d events unsent", limit, len(self._queue))
                return False
        self._closed = True
        return True

    # --- worker ---

    def _run(self) -> None:
        # The shipper's own HTTP calls must never be traced (or audited) back into the platform.
        key = getattr(otel_context, "_SUPPRESS_INSTRUMENTATION_KEY", None)
        if key is not None:
            otel_context.attach(otel_context.set_value(key, True))
        while True:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            with self._lock:
                waiters, self._flush_waiters = self._flush_waiters, []
                stopping = self._stopping
            self._drain()
            for waiter in waiters:
                waiter.set()
            if stopping:
                with self._lock:
                    empty = not self._queue
                if empty or time.monotonic() >= self._deadline:
                    return

    def _take(self) -> list[Event]:
        with self._lock:
            n = min(len(self._queue), self.batch_size)
            return [self._queue.popleft() for _ in range(n)]

    def _drain(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                return
            self._ship(batch)

    def _ship(self, events: list[Event]) -> None:
        batch: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "batch_id": new_id(),
            "platform": self.platform,
            "events": [event.to_wire() for event in events],
        }
        delay = 0.1
        for attempt in range(1, self.max_attempts + 1):
            try:
                self.transport.send(batch)
            except DeliveryError as exc:
                last_try = attempt == self.max_attempts or not exc.retryable or self._out_of_time()
                if last_try:
                    self._count("failed", len(events))
                    log.error("ccaudit: %d events not delivered after %d attempts: %s", len(events), attempt, exc)
                    return
                self._count("retries", 1)
                pause = exc.retry_after if exc.retry_after is not None else delay * (0.5 + random.random())
                self._sleep(min(pause, self.backoff_max))
                delay = min(delay * 2, self.backoff_max)
            except Exception:
                self._count("failed", len(events))
                log.exception("ccaudit: transport raised unexpectedly; %d events lost", len(events))
                return
            else:
                self._count("shipped", len(events))
                return

    def _out_of_time(self) -> bool:
        return self._stopping and time.monotonic() >= self._deadline

    def _sleep(self, seconds: float) -> None:
        # Waits on the wake event so that shutdown is not delayed by a long backoff.
        end = time.monotonic() + seconds
        while not self._stopping:
            left = end - time.monotonic()
            if left <= 0:
                return
            self._wake.wait(left)
            if self._stopping:
                return

    def _count(self, name: str, n: int) -> None:
        with self._lock:
            self._counts[name] += n

    # --- process lifecycle ---

    def _after_fork(self) -> None:
        # The parent's queue, locks and thread do not exist in a meaningful state in the child.
        self._init_state()
        self._start()

    def _at_exit(self) -> None:
        if not self._closed:
            self.shutdown()


# Recorders alive in this process, for the OpenTelemetry callbacks, fork and exit hooks. Weak, so a
# recorder that is dropped (tests) does not live forever.
_live: weakref.WeakSet[Recorder] = weakref.WeakSet()
_instruments_made = False
_hooks_lock = threading.Lock()


def _after_fork_all() -> None:
    for recorder in list(_live):
        recorder._after_fork()


def _exit_all() -> None:
    for recorder in list(_live):
        recorder._at_exit()


def _observe(name: str) -> Any:
    def callback(options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        for recorder in list(_live):
            stats = recorder.stats()
            yield metrics.Observation(stats[name], {"platform": recorder.platform})

    return callback


def _register(recorder: Recorder) -> None:
    global _instruments_made
    with _hooks_lock:
        _live.add(recorder)
        if _instruments_made:
            return
        _instruments_made = True
        meter = metrics.get_meter("ccaudit")
        for name in _COUNTERS:
            meter.create_observable_counter(f"ccaudit.recorder.{name}", callbacks=[_observe(name)], unit="{event}")
        meter.create_observable_gauge("ccaudit.recorder.queued", callbacks=[_observe("queued")], unit="{event}")
        atexit.register(_exit_all)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_after_fork_all)


def build_recorder(settings: Settings) -> Recorder:
    """The recorder the settings describe: HTTP to the service, or in-process ingest."""
    transport: Transport
    if settings.transport == "inprocess":
        # Imported here: the in-process path needs the service extras, a platform worker does not.
        from ccaudit.ingest.inprocess import inprocess_transport

        transport = inprocess_transport(settings)
    else:
        transport = HttpTransport(settings.service_url, timeout=settings.send_timeout)
    return Recorder(
        transport,
        platform=settings.platform,
        queue_size=settings.queue_size,
        batch_size=settings.batch_size,
        flush_interval=settings.flush_interval,
        shutdown_timeout=settings.shutdown_timeout,
    )
