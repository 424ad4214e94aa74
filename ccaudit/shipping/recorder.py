"""The recorder: a bounded in-memory queue, a worker that persists and ships, per process.

``emit`` is what the request path calls: O(1), thread-safe, never blocks on I/O, never raises. When
the queue is full the event is dropped and counted (``dropped``): memory stays bounded and the
platform stays up. The worker wakes when a batch is full or ``flush_interval`` has passed:

- **audit** events and consent **receipts** go to the durable spool (``spool.py``) when one is
  configured, and two shipper threads deliver them from there, with retries, backoff and jitter,
  honouring ``Retry-After``,
  dead-lettering what the service refuses. Without a spool they are shipped from memory with the
  same retries (a crash then loses what is in memory).
- **usage** events are best effort: shipped from memory once, and dropped and counted
  (``usage_dropped``) when that fails. They are never spooled.

Lifecycle: ``force_flush(timeout) -> bool`` and ``shutdown(timeout) -> bool`` are bounded;
``shutdown`` is idempotent and also runs at interpreter exit. After ``fork()`` the child gets a
fresh, empty queue and its own threads: it never resends what its parent had in memory (what the
parent spooled is in the shared spool, shipped once by whichever process claims it).

Counters are plain numbers (``stats()``) and OpenTelemetry observable instruments
(``ccaudit.recorder.*``); nothing is logged from inside ``emit``.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import random
import sqlite3
import sys
import threading
import time
import traceback
import weakref
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson
from opentelemetry import context as otel_context
from opentelemetry import metrics

from ccaudit.events import Event, UsageEvent
from ccaudit.ids import new_id
from ccaudit.settings import Settings
from ccaudit.shipping.spool import Spool, SpooledBatch
from ccaudit.shipping.transport import DeliveryError, HttpTransport, Transport
from ccaudit.wire import MAX_BATCH_BYTES, MAX_EVENTS_PER_BATCH, SCHEMA_VERSION

log = logging.getLogger("ccaudit.recorder")

_COUNTERS = (
    "emitted",  # accepted by emit()
    "dropped",  # refused by emit(): queue full or shut down
    "spooled",  # audit events written to the spool
    "spool_dropped",  # audit events the full spool refused (fail-open loss)
    "shipped",  # events the service acknowledged
    "failed",  # audit events given up without a spool (memory-only mode)
    "retries",  # retried deliveries
    "dead_lettered",  # events moved to the dead letters
    "usage_dropped",  # usage events not delivered (best effort)
)
# A delivery from the spool is as large as the service takes, with room to spare in bytes: one
# large insert costs the store far less per event than several small ones (fixed cost per insert,
# fewer parts to merge).
_SHIP_EVENTS = MAX_EVENTS_PER_BATCH
_SHIP_BYTES = MAX_BATCH_BYTES // 2
_IDLE_POLL = 1.0  # seconds between spool checks when idle (rows of other processes, backoffs)

# Backoff jitter from a PRNG of our own: the platform's use of the global ``random`` (a seeded test,
# say) is not disturbed by ours, and cannot put the retries of all its workers in step. Reseeded in
# every forked child, as the global one is.
_jitter = random.Random()
os.register_at_fork(after_in_child=_jitter.seed)


def _suppress_instrumentation() -> None:
    # The shipper's own HTTP calls must never be traced (or audited) back into the platform.
    key = getattr(otel_context, "_SUPPRESS_INSTRUMENTATION_KEY", None)
    if key is not None:
        otel_context.attach(otel_context.set_value(key, True))


def _payload(platform: str, bodies: Iterable[str]) -> bytes:
    """A v1 batch assembled from already-encoded event JSON (no re-parsing of spooled events)."""
    head = json.dumps({"schema_version": SCHEMA_VERSION, "batch_id": new_id(), "platform": platform})
    return (head[:-1] + ',"events":[' + ",".join(bodies) + "]}").encode()


def _encode(event: Event) -> str:
    # orjson: encoding is the recorder's largest cost in the platform's process (~3x the stdlib's).
    return orjson.dumps(event.to_wire()).decode()


def _encode_all(events: Sequence[Event]) -> Iterable[str]:
    """Events from memory as one JSON array's items: one encoder call for the batch, not one each."""
    encoded = orjson.dumps([e.to_wire() for e in events]).decode()
    return (encoded[1:-1],) if events else ()


class Recorder:
    """Bounded queue + worker (+ spool shipper). See the module docstring for the guarantees."""

    def __init__(
        self,
        transport: Transport,
        *,
        platform: str,
        spool: Spool | None = None,
        queue_size: int = 20_000,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_attempts: int = 6,
        backoff_max: float = 30.0,
        shutdown_timeout: float = 5.0,
        lease: float = 30.0,
    ) -> None:
        self.transport = transport
        self.platform = platform
        self.spool = spool
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_attempts = max_attempts
        self.backoff_max = backoff_max
        self._shutdown_timeout = shutdown_timeout
        # Seconds a claimed spool batch is this process's; if it dies, another sends it after that.
        self.lease = lease
        self._init_state()
        self._start()
        _register(self)

    def _init_state(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Event] = deque()
        self._wake = threading.Event()
        self._ship_wake = threading.Event()
        self._flush_waiters: list[threading.Event] = []
        self._stopping = False
        self._closed = False
        self._deadline = 0.0
        self._counts = dict.fromkeys(_COUNTERS, 0)
        self._threads: list[threading.Thread] = []
        self._last_age_check = 0.0

    def _start(self) -> None:
        self._threads = [threading.Thread(target=self._run, name="ccaudit-recorder", daemon=True)]
        if self.spool is not None:
            # Two shippers: while one batch is on the wire (or being stored by the service), the next
            # one is claimed and sent. Claims are transactions with leases, so they never overlap.
            self._threads += [
                threading.Thread(target=self._ship_spool, name=f"ccaudit-shipper-{n}", daemon=True) for n in (1, 2)
            ]
        for thread in self._threads:
            thread.start()

    # --- request path ---

    def emit(self, event: Event) -> None:
        """Queue ``event``. O(1); drops and counts when the queue is full or the recorder closed."""
        with self._lock:
            if self._stopping or len(self._queue) >= self.queue_size:
                self._counts["dropped"] += 1
                return
            self._queue.append(event)
            self._counts["emitted"] += 1
            full = len(self._queue) >= self.batch_size
        if full:
            self._wake.set()

    # --- strict and fail-closed routes (blocking: adapters call these off the event loop) ---

    def can_keep(self) -> bool:
        """Whether an audit event emitted now would be kept durably: a spool with room."""
        return self.spool is not None and not self._stopping and self.spool.has_room()

    def keep(self, events: Sequence[Event]) -> bool:
        """Write ``events`` to the spool now, before returning; True if all of them are on disk."""
        if self.spool is None or self._stopping:
            return False
        accepted = self.spool.put([_encode(e) for e in events])
        self._count("spooled", accepted)
        self._ship_wake.set()
        return accepted == len(events)

    # --- control ---

    def stats(self) -> dict[str, int]:
        """Counters since start (or since fork, in a child) and the queue length as ``queued``."""
        with self._lock:
            out = dict(self._counts)
            out["queued"] = len(self._queue)
        return out

    def force_flush(self, timeout: float = 5.0) -> bool:
        """Persist and deliver everything queued now; True if done within ``timeout`` seconds.

        With a spool, "delivered" means the spool is empty (of every process sharing it).
        """
        deadline = time.monotonic() + max(0.0, timeout)
        worker = self._threads[0] if self._threads else None
        if worker is None or not worker.is_alive():
            return not self._queue
        done = threading.Event()
        with self._lock:
            self._flush_waiters.append(done)
        self._wake.set()
        if not done.wait(max(0.0, deadline - time.monotonic())):
            return False
        if self.spool is None:
            return True
        while time.monotonic() < deadline:
            if self.spool.depth() == 0:
                return True
            self._ship_wake.set()
            time.sleep(0.05)
        return self.spool.depth() == 0

    def shutdown(self, timeout: float | None = None) -> bool:
        """Stop accepting events, persist or ship what is queued, stop the threads. Idempotent, bounded.

        Returns True if the in-memory queue was emptied within ``timeout`` (default: the configured
        one). Audit events still in the spool then are safe on disk and shipped after a restart.
        """
        limit = self._shutdown_timeout if timeout is None else timeout
        with self._lock:
            self._stopping = True
            self._deadline = time.monotonic() + limit
        self._wake.set()
        self._ship_wake.set()
        current = threading.current_thread()
        for thread in self._threads:
            if thread is not current:
                thread.join(max(0.0, self._deadline - time.monotonic()))
        alive = [t for t in self._threads if t.is_alive()]
        if alive or self._queue:
            frames = sys._current_frames()
            where = "; ".join(
                f"{t.name} at {traceback.format_stack(frames[t.ident], limit=3)[-1].strip()!r}"
                for t in alive
                if t.ident in frames
            )
            log.error(
                "ccaudit: recorder did not finish within %.1fs; %d events unsent in memory; still busy: %s",
                limit, len(self._queue), where or "-",
            )  # fmt: skip
            return False
        self._closed = True
        return True

    # --- worker: memory → spool (audit) or service ---

    def _run(self) -> None:
        _suppress_instrumentation()
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
            audit = [e for e in batch if not isinstance(e, UsageEvent)]
            usage = [e for e in batch if isinstance(e, UsageEvent)]
            if audit and self.spool is not None:
                self._persist(audit)
            elif audit:
                self._ship_from_memory(audit)
            if usage:
                self._ship_best_effort(usage)

    def _persist(self, events: Sequence[Event]) -> None:
        assert self.spool is not None
        try:
            accepted = self.spool.put([_encode(e) for e in events])
        except Exception:
            accepted = 0
            log.exception("ccaudit: the spool could not be written")
        self._count("spooled", accepted)
        lost = len(events) - accepted
        if lost:
            self._count("spool_dropped", lost)
            log.error("ccaudit: spool full or unwritable; %d audit events LOST (fail-open)", lost)
        self._ship_wake.set()

    def _ship_best_effort(self, events: Sequence[Event]) -> None:
        try:
            self.transport.send(_payload(self.platform, _encode_all(events)))
        except Exception:
            self._count("usage_dropped", len(events))
        else:
            self._count("shipped", len(events))

    def _ship_from_memory(self, events: Sequence[Event]) -> None:
        payload = _payload(self.platform, _encode_all(events))
        for attempt in range(1, self.max_attempts + 1):
            try:
                self.transport.send(payload)
            except DeliveryError as exc:
                if attempt == self.max_attempts or not exc.retryable or self._out_of_time():
                    self._count("failed", len(events))
                    log.error("ccaudit: %d audit events not delivered after %d attempts: %s", len(events), attempt, exc)
                    return
                self._count("retries", 1)
                self._sleep(self._backoff(attempt, exc.retry_after), self._wake)
            except Exception:
                self._count("failed", len(events))
                log.exception("ccaudit: transport raised unexpectedly; %d events lost", len(events))
                return
            else:
                self._count("shipped", len(events))
                return

    # --- shipper: spool → service ---

    def _ship_spool(self) -> None:
        _suppress_instrumentation()
        spool = self.spool
        assert spool is not None
        worker = self._threads[0]
        while True:
            # Once stopping, ship until the deadline; what is left then waits safely on disk.
            if self._stopping and time.monotonic() >= self._deadline:
                return
            try:
                self._enforce_age(spool)
                claimed = spool.claim(_SHIP_EVENTS, self.lease, _SHIP_BYTES)
            except Exception:
                log.exception("ccaudit: the spool could not be read")
                claimed = []
            if claimed:
                self._deliver(spool, claimed)
                continue
            if self._stopping and not worker.is_alive():
                return  # memory is persisted and nothing is ready to ship
            self._ship_wake.wait(0.05 if self._stopping else _IDLE_POLL)
            self._ship_wake.clear()

    def _enforce_age(self, spool: Spool) -> None:
        now = time.monotonic()
        if now - self._last_age_check >= 60:
            self._last_age_check = now
            moved, _ = spool.enforce_age()
            self._count("dead_lettered", moved)

    def _deliver(self, spool: Spool, claimed: list[SpooledBatch]) -> None:
        events = sum(b.events for b in claimed)
        try:
            self.transport.send(_payload(self.platform, (b.items() for b in claimed)))
        except DeliveryError as exc:
            if exc.retryable:
                # The freshest row sets the pace: new events must not inherit an old row's long backoff.
                attempts = min(b.attempts for b in claimed) + 1
                self._count("retries", 1)
                spool.retry([b.seq for b in claimed], self._backoff(attempts, exc.retry_after))
                if exc.status in (401, 403):
                    log.error("ccaudit: the service refused our ingest token (%s); events wait in the spool", exc)
                return
            bad = {i: reason for i, reason in exc.problems if 0 <= i < events}
            if not bad:  # refused as a whole (e.g. 413): nothing to gain from resending it as it is
                bad = dict.fromkeys(range(events), str(exc))
            # The rest were refused only because they shared the batch: they are sent again now.
            moved = spool.refuse(claimed, bad)
            self._count("dead_lettered", moved)
            log.error("ccaudit: the service refused %d audit events; moved to the dead letters: %s", moved, exc)
        except Exception:
            log.exception("ccaudit: transport raised unexpectedly; the batch stays in the spool")
            spool.retry([b.seq for b in claimed], self.backoff_max)
        else:
            spool.ack(b.seq for b in claimed)
            self._count("shipped", events)

    # --- helpers ---

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.backoff_max)
        # Exponential with full jitter: many platform processes must not retry in step.
        return _jitter.uniform(0.05, min(self.backoff_max, 0.1 * 2 ** min(attempt, 16)))

    def _out_of_time(self) -> bool:
        return self._stopping and time.monotonic() >= self._deadline

    def _sleep(self, seconds: float, wake: threading.Event) -> None:
        # Waits on a wake event so that shutdown is not delayed by a long backoff.
        end = time.monotonic() + seconds
        while not self._stopping:
            left = end - time.monotonic()
            if left <= 0:
                return
            wake.wait(left)

    def _count(self, name: str, n: int) -> None:
        if n:
            with self._lock:
                self._counts[name] += n

    # --- process lifecycle ---

    def _after_fork(self) -> None:
        # The parent's queue, locks and threads do not exist in a meaningful state in the child.
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
            yield metrics.Observation(recorder.stats()[name], {"platform": recorder.platform})

    return callback


def _observe_spool(field: str) -> Any:
    def callback(options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        for recorder in list(_live):
            if recorder.spool is not None:
                try:
                    value = getattr(recorder.spool.status(), field)
                except Exception:  # a metrics scrape must not fail because the spool is busy
                    log.debug("ccaudit: spool status unavailable for metrics", exc_info=True)
                    continue
                yield metrics.Observation(value, {"platform": recorder.platform})

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
        meter.create_observable_gauge("ccaudit.spool.depth", callbacks=[_observe_spool("depth")], unit="{event}")
        meter.create_observable_gauge("ccaudit.spool.oldest_age", callbacks=[_observe_spool("oldest_age")], unit="s")
        meter.create_observable_gauge(
            "ccaudit.spool.dead_letters", callbacks=[_observe_spool("dead_letters")], unit="{event}"
        )
        atexit.register(_exit_all)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_after_fork_all)


# Files that mark a folder as a project's sources: a spool there is deployed over, copied with the
# code or committed, and lost on the next release.
_SOURCE_MARKERS = (".git", "pyproject.toml", "setup.py", "manage.py")


def warn_about_spool_place(path: Path) -> None:
    """Log a warning at start when the spool would sit inside a source tree or cannot be written."""
    folder = path.resolve().parent
    for parent in (folder, *folder.parents):
        marker = next((m for m in _SOURCE_MARKERS if (parent / m).exists()), None)
        if marker is not None:
            log.warning(
                "ccaudit: the spool %s is inside a source tree (%s holds %s); set CCAUDIT_SPOOL_PATH to a "
                "folder of its own, such as /var/lib/<platform>/ccaudit-spool.sqlite3",
                path, parent, marker,
            )  # fmt: skip
            break
    existing = next((p for p in (folder, *folder.parents) if p.exists()), folder)
    if not os.access(existing, os.W_OK):
        log.warning("ccaudit: the spool's folder %s cannot be written by this process; set CCAUDIT_SPOOL_PATH", folder)


def build_recorder(settings: Settings) -> Recorder:
    """The recorder the settings describe: HTTP to the service (with the spool), or in-process."""
    transport: Transport
    spool = None
    if settings.transport == "inprocess":
        # Imported here: the in-process path needs the service extras, a platform worker does not.
        from ccaudit.ingest.inprocess import inprocess_transport

        transport = inprocess_transport(settings)
    else:
        token = settings.ingest_token.get_secret_value() if settings.ingest_token else None
        transport = HttpTransport(settings.service_url, timeout=settings.send_timeout, token=token)
    if settings.spool:
        # One spool per platform: its rows are shipped under that platform's token.
        path = settings.spool_file
        warn_about_spool_place(path)
        try:
            spool = Spool(
                path,
                max_events=settings.spool_max_events,
                max_age=settings.spool_max_age_days * 86400.0,
                dead_max_age=settings.dead_letter_max_age_days * 86400.0,
            )
        except (OSError, sqlite3.Error):
            # Fail-open, like a full spool: the platform keeps working, audit events are kept in
            # memory only, and the operator is told loudly. Fail-closed routes refuse (503).
            log.exception("ccaudit: cannot open the spool at %s; audit events are NOT durable", path)
    return Recorder(
        transport,
        platform=settings.platform,
        spool=spool,
        queue_size=settings.queue_size,
        batch_size=settings.batch_size,
        flush_interval=settings.flush_interval,
        shutdown_timeout=settings.shutdown_timeout,
        lease=max(settings.send_timeout * 2, 5.0)
        if settings.spool_lease_seconds is None
        else settings.spool_lease_seconds,
    )
