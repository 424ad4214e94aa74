"""The recorder: what a platform process keeps, writes and ships, with bounded memory and threads.

Three ways an event takes, by stream:

- **audit, learning and consent events, by default**: ``keep`` writes them to the durable spool
  (``spool.py``) on the request's own thread before the response is sent: one line of the
  process's journal (``journal.py``), shared with the other requests of the process writing at the
  same moment (``commit.py``). This replaces the design's earlier "the request path never does I/O"
  for these events: the one I/O is a copy into the journal's mapping (the page cache), so an
  acknowledged operation survives the process being killed. ``sync`` (strict routes, or
  ``CCAUDIT_DURABILITY=power``) also waits for the disk, so that it survives a power loss.
- **events that wait in memory**: ``emit`` is O(1), thread-safe, never blocks on I/O, never raises;
  when memory is full the event is dropped and counted (``dropped``). The recorder's thread (the
  spool writer) wakes when a batch is full or ``flush_interval`` has passed and writes the durable
  ones to the spool: events under ``CCAUDIT_DURABILITY=deferred``, events noted after a response,
  and any whose request-path commit failed. Without a spool they are shipped from memory, with
  retries (a crash then loses them).
- **usage events** (page views) are best effort: kept in memory and shipped once; dropped and
  counted (``usage_dropped``) when that send fails. Never spooled.

Sending is done by two shipper threads only, never by the spool writer: a service that accepts
connections and never answers holds up shipping, never durability. The retry schedule belongs to the
destination (``destination.py``): one backoff state for the service, whatever the events; new events
never wake a backed-off shipper (a flush request does, once). Shippers claim spooled batches with
leases, send them, and acknowledge, release or dead-letter them; they also send what waits in memory.

Lifecycle: ``force_flush(timeout) -> bool`` and ``shutdown(timeout) -> bool`` are bounded;
``shutdown`` is idempotent and also runs at interpreter exit. After ``fork()`` the child gets a
fresh, empty memory and its own threads: it never resends what its parent had in memory (what the
parent spooled is in the shared spool, shipped once by whichever process claims it).

Counters are plain numbers (``stats()``) and OpenTelemetry observable instruments
(``ccaudit.recorder.*``); nothing is logged from inside ``emit``, and ``keep`` logs a failure at
most once a minute.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from opentelemetry import context as otel_context
from opentelemetry import metrics

from ccaudit.events import Event, UsageEvent, compact
from ccaudit.ids import new_id
from ccaudit.settings import Settings
from ccaudit.shipping import journal
from ccaudit.shipping.commit import GroupCommit
from ccaudit.shipping.destination import Destination
from ccaudit.shipping.heads import SealHeads
from ccaudit.shipping.spool import Spool, SpooledBatch, fits_row, journal_lines
from ccaudit.shipping.transport import DeliveryError, HttpTransport, Transport
from ccaudit.wire import MAX_BATCH_BYTES, MAX_EVENTS_PER_BATCH, SCHEMA_VERSION

log = logging.getLogger("ccaudit.recorder")

_COUNTERS = (
    "emitted",  # accepted by emit()
    "dropped",  # refused by emit(): memory full or shut down
    "kept",  # events written to the spool on the request path, before their response
    "spooled",  # events written to the spool (kept ones included)
    "spool_dropped",  # durable events the full or unwritable spool refused (fail-open loss)
    "shipped",  # events the service acknowledged
    "sends",  # sends attempted (transport calls), whatever their outcome
    "failed",  # durable events given up without a spool (memory-only mode)
    "retries",  # retried deliveries
    "dead_lettered",  # events moved to the dead letters
    "usage_dropped",  # usage events not delivered (best effort)
)
# A delivery from the spool is as large as the service takes, with room to spare in bytes: one
# large insert costs the store far less per event than several small ones (fixed cost per insert,
# fewer parts to merge).
_SHIP_EVENTS = MAX_EVENTS_PER_BATCH
_SHIP_BYTES = MAX_BATCH_BYTES // 2
_AGE_CHECK = 60.0  # seconds between checks of the spool's age bounds
_LOG_EVERY = 60.0  # seconds between two logs of the same request-path failure

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


def journal_entry(events: Sequence[Event]) -> tuple[int, bytes]:
    """The request path's events as journal lines and their count: one encoder call for all of them,
    in the compact form (encoding is most of what keeping costs)."""
    now = time.time()
    array = orjson.dumps([compact(e) for e in events])
    if fits_row(len(events), array):
        return len(events), journal.compact_line(len(events), array, now)
    return len(events), journal_lines([_encode(e) for e in events], now)  # rare: more than a row holds


def _encode_all(events: Sequence[Event]) -> Iterable[str]:
    """Events from memory as one JSON array's items: one encoder call for the batch, not one each."""
    encoded = orjson.dumps([e.to_wire() for e in events]).decode()
    return (encoded[1:-1],) if events else ()


@dataclass(slots=True)
class _Parcel:
    """Events shipped from memory: page views (one attempt), or durable events without a spool."""

    events: Sequence[Event]
    durable: bool
    attempts: int = 0


class Recorder:
    """Durable commits, a bounded memory, a spool writer and two shippers. See the module docstring."""

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
        self._queue: deque[Event] = deque()  # emitted, not yet taken by the spool writer
        self._outbox: deque[_Parcel] = deque()  # taken, waiting for a shipper
        self._held_out = 0  # events in the outbox
        self._sending = 0  # parcels a shipper is sending now
        self._unshipped = 0  # events kept since a shipper was last woken for them
        self._wake = threading.Event()
        self._ship_wake = threading.Event()
        self._flush_waiters: list[threading.Event] = []
        self._stopping = False
        self._closed = False
        self._deadline = 0.0
        self._counts = dict.fromkeys(_COUNTERS, 0)
        self._threads: list[threading.Thread] = []
        self._last_age_check = 0.0
        self._last_keep_log = -_LOG_EVERY
        self.destination = Destination(self.backoff_max, jitter=_jitter)
        self._committer = GroupCommit(self.spool.write, self._log_keep_failure) if self.spool is not None else None

    def _start(self) -> None:
        self._threads = [threading.Thread(target=self._run, name="ccaudit-recorder", daemon=True)]
        # Two shippers: while one batch is on the wire (or being stored by the service), the next one
        # is claimed and sent. Claims are transactions with leases, so they never overlap.
        self._threads += [threading.Thread(target=self._ship, name=f"ccaudit-shipper-{n}", daemon=True) for n in (1, 2)]
        for thread in self._threads:
            thread.start()

    # --- request path ---

    def emit(self, event: Event) -> None:
        """Queue ``event``. O(1); drops and counts when memory is full or the recorder closed."""
        with self._lock:
            if self._stopping or len(self._queue) + self._held_out >= self.queue_size:
                self._counts["dropped"] += 1
                return
            self._queue.append(event)
            self._counts["emitted"] += 1
            full = len(self._queue) >= self.batch_size
        if full:
            self._wake.set()

    def can_keep(self, events: int = 1) -> bool:
        """Whether ``keep`` can take ``events`` now: a spool with room. No I/O."""
        return self.spool is not None and not self._closed and self.spool.has_room(events)

    def keep(self, events: Sequence[Event]) -> bool:
        """Write ``events`` to the spool now, on this thread; True when they are in it (they then
        survive the process being killed; ``sync`` for a power loss). Never raises: on False the
        caller hands them to ``emit`` or refuses the request."""
        if not events:
            return True
        committer = self._committer
        if committer is None or not self.can_keep(len(events)):
            return False
        try:
            ok = committer.commit([journal_entry(events)])
        except Exception as exc:  # encoding: a bug, but the request must not pay for it
            ok = False
            self._log_keep_failure(exc)
        if not ok:
            return False
        wake = False
        with self._lock:
            self._counts["kept"] += len(events)
            self._counts["spooled"] += len(events)
            self._unshipped += len(events)
            if self._unshipped >= self.batch_size:
                self._unshipped = 0
                wake = True
        # A full batch is worth a shipment now, unless the service is backed off: then it waits for
        # the schedule's slot like everything else.
        if wake and self.destination.wait_time() == 0:
            self._ship_wake.set()
        return True

    def sync(self) -> bool:
        """Wait until every write so far survives a power loss (fsync). Blocking I/O; never raises."""
        if self.spool is None:
            return False
        try:
            self.spool.sync()
        except Exception as exc:
            self._log_keep_failure(exc)
            return False
        return True

    def _log_keep_failure(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_keep_log >= _LOG_EVERY:  # a broken disk must not flood the log per request
            self._last_keep_log = now
            log.error("ccaudit: the spool could not be written before a response: %r", exc, exc_info=exc)

    # --- control ---

    def stats(self) -> dict[str, int]:
        """Counters since start (or since fork, in a child) and the events held in memory as ``queued``."""
        with self._lock:
            out = dict(self._counts)
            out["queued"] = len(self._queue) + self._held_out
        return out

    def force_flush(self, timeout: float = 5.0) -> bool:
        """Persist and deliver everything held now; True if done within ``timeout`` seconds.

        With a spool, "delivered" means the spool is empty (of every process sharing it). A backed-off
        service is tried once at once, then on its schedule.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        worker = self._threads[0] if self._threads else None
        if worker is None or not worker.is_alive():
            return not self._queue and not self._outbox
        done = threading.Event()
        with self._lock:
            self._flush_waiters.append(done)
        self._wake.set()
        if not done.wait(max(0.0, deadline - time.monotonic())):
            return False
        self.destination.force()
        while True:
            self._ship_wake.set()
            if self._delivered():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def _delivered(self) -> bool:
        with self._lock:
            in_memory = bool(self._outbox) or self._sending > 0
        if in_memory:
            return False
        try:
            return self.spool is None or self.spool.depth() == 0
        except Exception:
            log.exception("ccaudit: the spool could not be read")
            return False

    def shutdown(self, timeout: float | None = None) -> bool:
        """Stop accepting events, persist or ship what is held, stop the threads. Idempotent, bounded.

        Returns True if memory held no durable event at the end (within ``timeout``, default: the
        configured one). Events still in the spool then are safe on disk and shipped after a restart.
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
        unsent = self._give_up_memory()
        alive = [t for t in self._threads if t.is_alive()]
        if unsent or self._queue or (alive and alive[0] is self._threads[0]):
            frames = sys._current_frames()
            where = "; ".join(
                f"{t.name} at {traceback.format_stack(frames[t.ident], limit=3)[-1].strip()!r}"
                for t in alive
                if t.ident in frames
            )
            log.error(
                "ccaudit: recorder did not finish within %.1fs; %d durable events not delivered from memory; "
                "still busy: %s",
                limit, unsent + len(self._queue), where or "-",
            )  # fmt: skip
            return False
        if alive:  # shippers stuck in a send: what they hold is in the spool, or a page view
            log.warning("ccaudit: %d shipper(s) still waiting on the service at shutdown", len(alive))
        self._closed = True
        return True

    def _give_up_memory(self) -> int:
        """At the end of shutdown: count what is left in the outbox as lost; returns the durable ones."""
        with self._lock:
            parcels = list(self._outbox)
            self._outbox.clear()
            self._held_out = 0
        durable = sum(len(p.events) for p in parcels if p.durable)
        self._count("failed", durable)
        self._count("usage_dropped", sum(len(p.events) for p in parcels if not p.durable))
        return durable

    # --- the spool writer: memory → spool (durable events) or outbox; spool upkeep ---

    def _run(self) -> None:
        _suppress_instrumentation()
        while True:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            with self._lock:
                waiters, self._flush_waiters = self._flush_waiters, []
                stopping = self._stopping
            self._drain()
            if self.spool is not None:
                self._tend(self.spool)
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
            durable = [e for e in batch if not isinstance(e, UsageEvent)]
            usage = [e for e in batch if isinstance(e, UsageEvent)]
            if durable and self.spool is not None:
                self._persist(self.spool, durable)
            elif durable:
                self._post(_Parcel(durable, durable=True))
            if usage:
                self._post(_Parcel(usage, durable=False))

    def _persist(self, spool: Spool, events: Sequence[Event]) -> None:
        try:
            accepted = spool.put([_encode(e) for e in events])
            spool.sync()  # events that waited in memory: on disk, power loss included, within a flush
        except Exception:
            accepted = 0
            log.exception("ccaudit: the spool could not be written")
        self._count("spooled", accepted)
        lost = len(events) - accepted
        if lost:
            self._count("spool_dropped", lost)
            log.error("ccaudit: spool full or unwritable; %d audit events LOST (fail-open)", lost)

    def _post(self, parcel: _Parcel) -> None:
        """Into the outbox (the events stay counted as held in memory), and a shipper woken if it may send."""
        with self._lock:
            self._outbox.append(parcel)
            self._held_out += len(parcel.events)
        if self.destination.wait_time() == 0:
            self._ship_wake.set()

    def _tend(self, spool: Spool) -> None:
        """Every flush interval: the request path's rows into batches, the room count refreshed, the
        log checkpointed (off the request path: it waits for the disk), and now and then the age bounds."""
        try:
            spool.fold()
            spool.refresh()
            spool.checkpoint()
            now = time.monotonic()
            if now - self._last_age_check >= _AGE_CHECK:
                self._last_age_check = now
                moved, _ = spool.enforce_age()
                self._count("dead_lettered", moved)
        except Exception:
            log.exception("ccaudit: spool upkeep failed")

    # --- shippers: outbox and spool → service, on the destination's schedule ---

    def _ship(self) -> None:
        _suppress_instrumentation()
        worker = self._threads[0]
        while True:
            if self._stopping and time.monotonic() >= self._deadline:
                return  # what is left waits safely on disk (or is counted at shutdown)
            destination = self.destination
            wait = destination.wait_time()
            if wait > 0:
                if self._stopping and wait >= self._deadline - time.monotonic():
                    return  # no send is due before the deadline
                self._ship_wake.wait(wait)
                self._ship_wake.clear()
                continue
            if not destination.acquire():
                continue
            if self._ship_one(destination):
                continue
            destination.release()
            if self._stopping and not worker.is_alive():
                return  # memory is persisted and nothing is ready to ship
            self._ship_wake.wait(0.05 if self._stopping else self.flush_interval)
            self._ship_wake.clear()

    def _ship_one(self, destination: Destination) -> bool:
        """Send one parcel from memory, else one claim from the spool; False when there was nothing.
        Called holding the destination's permission, which the send's outcome settles."""
        with self._lock:
            # One parcel on the wire at a time: memory is shipped in the order it was emitted.
            parcel = self._outbox.popleft() if self._outbox and not self._sending else None
            if parcel is not None:
                self._held_out -= len(parcel.events)
                self._sending += 1
        if parcel is not None:
            try:
                self._deliver_parcel(parcel, destination)
            finally:
                with self._lock:
                    self._sending -= 1
            return True
        spool = self.spool
        if spool is None:
            return False
        try:
            claimed = spool.claim(_SHIP_EVENTS, self.lease, _SHIP_BYTES)
        except Exception:
            log.exception("ccaudit: the spool could not be read")
            return False
        if not claimed:
            return False
        self._deliver(spool, claimed, destination)
        return True

    def _send(self, payload: bytes, destination: Destination) -> DeliveryError | None:
        """One send; the destination learns its outcome. None when the service stored the batch."""
        self._count("sends", 1)
        try:
            self.transport.send(payload)
        except DeliveryError as exc:
            if exc.retryable:
                destination.failed(exc.retry_after)
            else:
                destination.succeeded()  # it answered: reachable, the batch is what it refuses
            return exc
        except Exception as exc:
            log.exception("ccaudit: transport raised unexpectedly")
            destination.failed(None)
            return DeliveryError(f"transport error: {exc}", retryable=True)
        destination.succeeded()
        return None

    def _deliver_parcel(self, parcel: _Parcel, destination: Destination) -> None:
        error = self._send(_payload(self.platform, _encode_all(parcel.events)), destination)
        n = len(parcel.events)
        if error is None:
            self._count("shipped", n)
        elif not parcel.durable:
            self._count("usage_dropped", n)  # best effort: one attempt
        elif error.retryable and parcel.attempts + 1 < self.max_attempts and not self._out_of_time():
            parcel.attempts += 1
            self._count("retries", 1)
            with self._lock:  # back to the front: the destination's schedule says when
                self._outbox.appendleft(parcel)
                self._held_out += n
        else:
            self._count("failed", n)
            log.error("ccaudit: %d audit events not delivered after %d attempts: %s", n, parcel.attempts + 1, error)

    def _deliver(self, spool: Spool, claimed: list[SpooledBatch], destination: Destination) -> None:
        events = sum(b.events for b in claimed)
        error = self._send(_payload(self.platform, (b.items() for b in claimed)), destination)
        try:
            if error is None:
                spool.ack(b.seq for b in claimed)
                self._count("shipped", events)
            elif error.retryable:
                self._count("retries", 1)
                spool.retry([b.seq for b in claimed])  # ready again; the destination says when
                if error.status in (401, 403):
                    log.error("ccaudit: the service refused our ingest token (%s); events wait in the spool", error)
            else:
                bad = {i: reason for i, reason in error.problems if 0 <= i < events}
                if not bad:  # refused as a whole (e.g. 413): nothing to gain from resending it as it is
                    bad = dict.fromkeys(range(events), str(error))
                # The rest were refused only because they shared the batch: they are sent again now.
                moved = spool.refuse(claimed, bad)
                self._count("dead_lettered", moved)
                log.error("ccaudit: the service refused %d audit events; moved to the dead letters: %s", moved, error)
        except Exception:  # the lease runs out and another shipper sends them again
            log.exception("ccaudit: the spool could not be updated after a send")

    # --- helpers ---

    def _out_of_time(self) -> bool:
        return self._stopping and time.monotonic() >= self._deadline

    def _count(self, name: str, n: int) -> None:
        if n:
            with self._lock:
                self._counts[name] += n

    # --- process lifecycle ---

    def _after_fork(self) -> None:
        # The parent's memory, locks and threads do not exist in a meaningful state in the child.
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
        heads = SealHeads(settings.seal_heads_file, settings.platform)
        transport = HttpTransport(settings.service_url, timeout=settings.send_timeout, token=token, heads=heads)
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
