"""The durable spool: audit events on local disk until the service has stored them.

One SQLite file (standard library) in WAL mode, shared by every worker process of a platform on a
host (pre-fork servers included). A row is a *batch*: the events one recorder flush wrote, as a
JSON array, so that writing, claiming and acknowledging cost one row operation per batch instead of
one per event (per-event rows made SQLite the recorder's largest cost). Writers append in one
transaction; shippers in any of those processes *claim* ready rows under a time-limited lease,
send them, then delete them (ack) or reschedule them with a backoff (retry). Events the service
refuses move, one by one and with the reason, to the dead-letter table, and the rest of their batch
stays to be sent again. A process that dies holding a lease simply lets it expire, and another
shipper sends those rows again: the service recognises a redelivered event by its id, so every
event accepted here is stored exactly once, however the batches are regrouped.

Bounds, all configuration: at most ``max_events`` events (a full spool refuses new events, and the
caller counts and reports the loss, or refuses the operation on fail-closed routes); batches older
than ``max_age`` seconds move to the dead letters; dead letters older than ``dead_max_age`` are
deleted (counted and logged). Both tables hold personal data outside ClickHouse, which is why their
age is bounded and why they are listed in ``ccaudit.store.tables``.

Durability: ``synchronous=FULL``, so an accepted event survives a crash of the process and of the
machine. Connections are per thread and per process (a SQLite connection must never cross a fork).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("ccaudit.spool")

# A row holds at most this many events and (beyond its first event) bytes of JSON, so that a claim
# never has to split a row to stay under its limits, and a shipment stays under the service's.
ROW_EVENTS = 1000
ROW_BYTES = 4 * 1024 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    events      INTEGER NOT NULL,
    enqueued_at REAL NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    not_before  REAL NOT NULL DEFAULT 0,
    lease_until REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS batches_ready ON batches (not_before, lease_until);
-- Bodies apart: SQLite rewrites a whole row on UPDATE, and leases and retries update batches often.
CREATE TABLE IF NOT EXISTS bodies (
    seq  INTEGER PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id  TEXT NOT NULL,
    body      TEXT NOT NULL,
    reason    TEXT NOT NULL,
    failed_at REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    seq: int
    events: int
    body: str  # the events' wire JSON objects, as one JSON array
    attempts: int

    def items(self) -> str:
        """The events as the items of a JSON array, ready to be joined into a larger one."""
        return self.body[1:-1]


@dataclass(frozen=True, slots=True)
class SpoolStatus:
    depth: int
    ready: int
    oldest_age: float  # seconds; 0 when empty
    dead_letters: int
    max_events: int


def split(body: str) -> list[tuple[str, str]]:
    """A row's body as ``(event id, event JSON)`` pairs (the refusal and age paths only)."""
    return [(str(e.get("event_id", "")), json.dumps(e, separators=(",", ":"))) for e in json.loads(body)]


def _rows(bodies: Sequence[str]) -> Iterator[tuple[int, str]]:
    """Events grouped into rows of at most ROW_EVENTS events and ROW_BYTES bytes: ``(count, JSON array)``."""
    chunk: list[str] = []
    size = 0
    for body in bodies:
        if chunk and (len(chunk) == ROW_EVENTS or size + len(body) > ROW_BYTES):
            yield len(chunk), "[" + ",".join(chunk) + "]"
            chunk, size = [], 0
        chunk.append(body)
        size += len(body) + 1
    if chunk:
        yield len(chunk), "[" + ",".join(chunk) + "]"


class Spool:
    """A spool file. Safe to share between threads and processes."""

    def __init__(
        self,
        path: Path,
        *,
        max_events: int = 1_000_000,
        max_age: float = 7 * 86400,
        dead_max_age: float = 30 * 86400,
    ) -> None:
        self.path = path
        self.max_events = max_events
        self.max_age = max_age
        self.dead_max_age = dead_max_age
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        path.parent.mkdir(parents=True, exist_ok=True)
        with _gate:
            self._db().executescript(_SCHEMA)
        self._upgrade()
        _spools.add(self)

    def _upgrade(self) -> None:
        # Spools written by ccaudit 0.1 hold one event per row in a table named ``spool``: move its
        # events into batches, keeping their order and age, so an upgrade loses nothing.
        with self._tx() as db:
            if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'spool'").fetchone() is None:
                return
            old = db.execute("SELECT body, enqueued_at FROM spool ORDER BY seq").fetchall()
            for start in range(0, len(old), ROW_EVENTS):
                chunk = old[start : start + ROW_EVENTS]  # each keeps the age of its oldest event
                _append(db, _rows([str(r[0]) for r in chunk]), min(float(r[1]) for r in chunk))
            db.execute("DROP TABLE spool")
        log.warning("ccaudit: moved %d spooled events into the batch layout", len(old))

    # --- connections ---

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None or getattr(self._local, "pid", None) != os.getpid():
            # Each connection is used by its own thread only (thread-local), but close() runs on
            # whichever thread closes the spool, after the recorder's threads have finished.
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
            self._local.pid = os.getpid()
            self._connections.append(db)
        return db

    def _after_fork(self) -> None:
        # A child must never use, nor close, a connection its parent opened: closing one runs
        # SQLite's cleanup against locks and WAL state the parent still relies on. Keep them alive,
        # unused, for the life of the child.
        _abandoned.extend(self._connections)
        self._connections = []
        self._local = threading.local()

    class _Tx:
        def __init__(self, spool: Spool) -> None:
            self.spool = spool

        def __enter__(self) -> sqlite3.Connection:
            _gate.acquire()
            try:
                self.db = self.spool._db()
                # IMMEDIATE takes the write lock up front, so concurrent claimers serialise cleanly.
                self.db.execute("BEGIN IMMEDIATE")
            except BaseException:
                _gate.release()
                raise
            return self.db

        def __exit__(self, kind: object, value: object, tb: object) -> None:
            try:
                self.db.execute("COMMIT" if kind is None else "ROLLBACK")
            finally:
                _gate.release()

    def _tx(self) -> Spool._Tx:
        return Spool._Tx(self)

    def _read(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        with _gate:
            return list(self._db().execute(sql, params).fetchall())

    # --- writing ---

    def put(self, bodies: Sequence[str]) -> int:
        """Append events (each its wire JSON object) durably; returns how many were accepted.

        When the spool is full, only as many as fit are accepted, the first ones (the rest is the
        caller's loss to count).
        """
        if not bodies:
            return 0
        now = time.time()
        with self._tx() as db:
            room = max(0, self.max_events - _depth(db))
            accepted = bodies[:room]
            _append(db, _rows(accepted), now)
        return len(accepted)

    def depth(self) -> int:
        """Events waiting (one query; status() does three)."""
        with _gate:
            return _depth(self._db())

    def has_room(self) -> bool:
        return self.depth() < self.max_events

    # --- shipping ---

    def claim(self, limit: int, lease: float, max_bytes: int | None = None) -> list[SpooledBatch]:
        """Lease ready batches, oldest first, for ``lease`` seconds: as many as fit in ``limit``
        events (and ``max_bytes`` of JSON), and at least one."""
        now = time.time()
        chosen: list[SpooledBatch] = []
        total = size = 0
        with self._tx() as db:
            ready = db.execute(
                "SELECT seq, events, body, attempts FROM batches JOIN bodies USING (seq) "
                "WHERE not_before <= ? AND lease_until <= ? ORDER BY seq",
                (now, now),
            )
            for seq, events, body, attempts in ready:
                too_big = max_bytes is not None and size + len(body) > max_bytes
                if chosen and (total + int(events) > limit or too_big):
                    break
                chosen.append(SpooledBatch(int(seq), int(events), str(body), int(attempts)))
                total += int(events)
                size += len(body)
            ready.close()
            db.executemany("UPDATE batches SET lease_until = ? WHERE seq = ?", [(now + lease, b.seq) for b in chosen])
        return chosen

    def ack(self, seqs: Iterable[int]) -> None:
        """The service stored these batches: forget them."""
        with self._tx() as db:
            for seq in seqs:
                _forget(db, seq)

    def retry(self, seqs: Iterable[int], delay: float) -> None:
        """Release these batches and make them ready again after ``delay`` seconds."""
        not_before = time.time() + max(0.0, delay)
        with self._tx() as db:
            db.executemany(
                "UPDATE batches SET attempts = attempts + 1, not_before = ?, lease_until = 0 WHERE seq = ?",
                [(not_before, s) for s in seqs],
            )

    def refuse(self, claimed: Sequence[SpooledBatch], problems: Mapping[int, str]) -> int:
        """The service refused the events at these indexes of the shipment ``claimed`` made (its
        batches' events, in order): move them to the dead letters with the reason, and make the
        rest of their batches ready to send again now. Returns how many moved."""
        now = time.time()
        moved = 0
        offset = 0
        with self._tx() as db:
            for batch in claimed:
                if not any(offset <= i < offset + batch.events for i in problems):
                    db.execute("UPDATE batches SET lease_until = 0 WHERE seq = ?", (batch.seq,))
                    offset += batch.events
                    continue
                keep: list[str] = []
                for n, (event_id, body) in enumerate(split(batch.body), start=offset):
                    if n in problems:
                        _bury(db, event_id, body, problems[n], now)
                        moved += 1
                    else:
                        keep.append(body)
                offset += batch.events
                if keep:
                    db.execute("UPDATE batches SET events = ?, lease_until = 0 WHERE seq = ?", (len(keep), batch.seq))
                    db.execute("UPDATE bodies SET body = ? WHERE seq = ?", ("[" + ",".join(keep) + "]", batch.seq))
                else:
                    _forget(db, batch.seq)
        return moved

    # --- bounds and operators ---

    def enforce_age(self) -> tuple[int, int]:
        """Dead-letter spooled events older than max_age; delete dead letters older than dead_max_age.

        Returns (events dead-lettered, dead letters deleted).
        """
        now = time.time()
        moved = 0
        with self._tx() as db:
            old = db.execute(
                "SELECT seq, body FROM batches JOIN bodies USING (seq) WHERE enqueued_at < ?", (now - self.max_age,)
            ).fetchall()
            reason = f"not delivered within {self.max_age:.0f}s"
            for seq, body in old:
                for event_id, event in split(str(body)):
                    _bury(db, event_id, event, reason, now)
                    moved += 1
                _forget(db, seq)
            deleted = db.execute("DELETE FROM dead_letters WHERE failed_at < ?", (now - self.dead_max_age,)).rowcount
        if moved:
            log.error("ccaudit: %d audit events were not delivered in time and moved to the dead letters", moved)
        if deleted:
            log.error("ccaudit: %d dead letters passed their maximum age and were deleted", deleted)
        return moved, deleted

    def status(self) -> SpoolStatus:
        now = time.time()
        depth, oldest = self._read("SELECT total(events), min(enqueued_at) FROM batches")[0]
        ready = self._read("SELECT total(events) FROM batches WHERE not_before <= ? AND lease_until <= ?", (now, now))[
            0
        ][0]
        dead = self._read("SELECT count(*) FROM dead_letters")[0][0]
        return SpoolStatus(
            depth=int(depth),
            ready=int(ready),
            oldest_age=max(0.0, now - oldest) if oldest is not None else 0.0,
            dead_letters=int(dead),
            max_events=self.max_events,
        )

    def dead_letters(self, limit: int = 100) -> list[tuple[int, str, str, float, str]]:
        """(seq, event id, reason, failed at, body) of the oldest dead letters."""
        rows = self._read(
            "SELECT seq, event_id, reason, failed_at, body FROM dead_letters ORDER BY seq LIMIT ?", (limit,)
        )
        return [(int(r[0]), str(r[1]), str(r[2]), float(r[3]), str(r[4])) for r in rows]

    def requeue_dead_letters(self, seqs: Iterable[int] | None = None) -> int:
        """Put dead letters (all, or the given ones) back into the spool; returns how many."""
        now = time.time()
        with self._tx() as db:
            if seqs is None:
                rows = db.execute("SELECT seq, body FROM dead_letters ORDER BY seq").fetchall()
            else:
                rows = [r for s in seqs for r in db.execute("SELECT seq, body FROM dead_letters WHERE seq = ?", (s,))]
            _append(db, _rows([str(r[1]) for r in rows]), now)
            db.executemany("DELETE FROM dead_letters WHERE seq = ?", [(r[0],) for r in rows])
        return len(rows)

    def close(self) -> None:
        with _gate:
            for db in self._connections:
                db.close()
            self._connections = []
            self._local = threading.local()


def _depth(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT total(events) FROM batches").fetchone()[0])


def _append(db: sqlite3.Connection, rows: Iterable[tuple[int, str]], enqueued_at: float) -> None:
    for events, body in rows:
        seq = db.execute("INSERT INTO batches (events, enqueued_at) VALUES (?, ?)", (events, enqueued_at)).lastrowid
        db.execute("INSERT INTO bodies (seq, body) VALUES (?, ?)", (seq, body))


def _forget(db: sqlite3.Connection, seq: int) -> None:
    db.execute("DELETE FROM batches WHERE seq = ?", (seq,))
    db.execute("DELETE FROM bodies WHERE seq = ?", (seq,))


def _bury(db: sqlite3.Connection, event_id: str, body: str, reason: str, now: float) -> None:
    db.execute(
        "INSERT INTO dead_letters (event_id, body, reason, failed_at) VALUES (?, ?, ?, ?)",
        (event_id, body, reason[:2000], now),
    )


# Every SQLite call of the spool holds this gate, and fork() takes it first: so no thread is inside
# SQLite when a pre-fork server forks. A child forked while another thread held SQLite's internal
# mutexes would deadlock in its first SQLite call (seen under gunicorn --preload).
_gate = threading.RLock()
_spools: weakref.WeakSet[Spool] = weakref.WeakSet()
_abandoned: list[sqlite3.Connection] = []


def _after_fork_in_child() -> None:
    global _gate
    _gate = threading.RLock()
    for spool in list(_spools):
        spool._after_fork()


if hasattr(os, "register_at_fork"):
    # Looked up at call time: a child replaces the gate, and its own children must use the new one.
    os.register_at_fork(
        before=lambda: _gate.acquire(), after_in_parent=lambda: _gate.release(), after_in_child=_after_fork_in_child
    )
