"""The durable spool: audit events on local disk until the service has stored them.

One SQLite file (standard library) in WAL mode, shared by every worker process of a platform on a
host (pre-fork servers included). Writers append in one transaction per batch; shippers in any of
those processes *claim* ready rows under a time-limited lease, send them, then delete them (ack),
reschedule them with a backoff (retry), or move them to the dead-letter table with the reason
(rejected by the service). A process that dies holding a lease simply lets it expire, and another
shipper sends those rows again: the service recognises a redelivered event by its id, so every
event accepted here is stored exactly once.

Bounds, all configuration: at most ``max_events`` rows (a full spool refuses new events, and the
caller counts and reports the loss, or refuses the operation on fail-closed routes); rows older
than ``max_age`` seconds move to the dead letters; dead letters older than ``dead_max_age`` are
deleted (counted and logged). Both tables hold personal data outside ClickHouse, which is why their
age is bounded and why they are listed in ``ccaudit.store.tables``.

Durability: ``synchronous=FULL``, so an accepted event survives a crash of the process and of the
machine. Connections are per thread and per process (a SQLite connection must never cross a fork).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("ccaudit.spool")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT NOT NULL UNIQUE,
    body        TEXT NOT NULL,
    enqueued_at REAL NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    not_before  REAL NOT NULL DEFAULT 0,
    lease_until REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS spool_ready ON spool (not_before, lease_until);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id  TEXT NOT NULL,
    body      TEXT NOT NULL,
    reason    TEXT NOT NULL,
    failed_at REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class SpooledEvent:
    seq: int
    event_id: str
    body: str  # the event's wire JSON
    attempts: int


@dataclass(frozen=True, slots=True)
class SpoolStatus:
    depth: int
    ready: int
    oldest_age: float  # seconds; 0 when empty
    dead_letters: int
    max_events: int


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
        _spools.add(self)

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

    def put(self, events: Sequence[tuple[str, str]]) -> int:
        """Append ``(event_id, wire JSON)`` pairs durably; returns how many were accepted.

        When the spool is full, only as many as fit are accepted (the rest is the caller's loss to
        count). An event id already present is accepted without a second row.
        """
        if not events:
            return 0
        now = time.time()
        with self._tx() as db:
            depth = int(db.execute("SELECT count(*) FROM spool").fetchone()[0])
            room = max(0, self.max_events - depth)
            accepted = events[:room]
            db.executemany(
                "INSERT OR IGNORE INTO spool (event_id, body, enqueued_at) VALUES (?, ?, ?)",
                [(event_id, body, now) for event_id, body in accepted],
            )
        return len(accepted)

    def depth(self) -> int:
        """Events waiting (one count query; status() does three)."""
        return int(self._read("SELECT count(*) FROM spool")[0][0])

    def has_room(self) -> bool:
        return int(self._read("SELECT count(*) FROM spool")[0][0]) < self.max_events

    # --- shipping ---

    def claim(self, limit: int, lease: float) -> list[SpooledEvent]:
        """Lease up to ``limit`` ready events, oldest first, for ``lease`` seconds."""
        now = time.time()
        with self._tx() as db:
            rows = db.execute(
                "SELECT seq, event_id, body, attempts FROM spool WHERE not_before <= ? AND lease_until <= ? "
                "ORDER BY seq LIMIT ?",
                (now, now, limit),
            ).fetchall()
            if rows:
                db.executemany("UPDATE spool SET lease_until = ? WHERE seq = ?", [(now + lease, r[0]) for r in rows])
        return [SpooledEvent(int(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows]

    def ack(self, seqs: Iterable[int]) -> None:
        """The service stored these: forget them."""
        with self._tx() as db:
            db.executemany("DELETE FROM spool WHERE seq = ?", [(s,) for s in seqs])

    def retry(self, seqs: Iterable[int], delay: float) -> None:
        """Release these and make them ready again after ``delay`` seconds."""
        not_before = time.time() + max(0.0, delay)
        with self._tx() as db:
            db.executemany(
                "UPDATE spool SET attempts = attempts + 1, not_before = ?, lease_until = 0 WHERE seq = ?",
                [(not_before, s) for s in seqs],
            )

    def dead_letter(self, items: Iterable[tuple[int, str]]) -> int:
        """Move ``(seq, reason)`` rows to the dead letters; returns how many moved."""
        now = time.time()
        moved = 0
        with self._tx() as db:
            for seq, reason in items:
                cursor = db.execute(
                    "INSERT INTO dead_letters (event_id, body, reason, failed_at) "
                    "SELECT event_id, body, ?, ? FROM spool WHERE seq = ?",
                    (reason[:2000], now, seq),
                )
                moved += cursor.rowcount
                db.execute("DELETE FROM spool WHERE seq = ?", (seq,))
        return moved

    # --- bounds and operators ---

    def enforce_age(self) -> tuple[int, int]:
        """Dead-letter spooled events older than max_age; delete dead letters older than dead_max_age.

        Returns (events dead-lettered, dead letters deleted).
        """
        now = time.time()
        with self._tx() as db:
            old = db.execute("SELECT seq FROM spool WHERE enqueued_at < ?", (now - self.max_age,)).fetchall()
        moved = self.dead_letter((int(r[0]), f"not delivered within {self.max_age:.0f}s") for r in old) if old else 0
        with self._tx() as db:
            deleted = db.execute("DELETE FROM dead_letters WHERE failed_at < ?", (now - self.dead_max_age,)).rowcount
        if moved:
            log.error("ccaudit: %d audit events were not delivered in time and moved to the dead letters", moved)
        if deleted:
            log.error("ccaudit: %d dead letters passed their maximum age and were deleted", deleted)
        return moved, deleted

    def status(self) -> SpoolStatus:
        now = time.time()
        depth, oldest = self._read("SELECT count(*), min(enqueued_at) FROM spool")[0]
        ready = self._read("SELECT count(*) FROM spool WHERE not_before <= ? AND lease_until <= ?", (now, now))[0][0]
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
                rows = db.execute("SELECT seq, event_id, body FROM dead_letters").fetchall()
            else:
                rows = [
                    r
                    for s in seqs
                    for r in db.execute("SELECT seq, event_id, body FROM dead_letters WHERE seq = ?", (s,)).fetchall()
                ]
            db.executemany(
                "INSERT OR IGNORE INTO spool (event_id, body, enqueued_at) VALUES (?, ?, ?)",
                [(r[1], r[2], now) for r in rows],
            )
            db.executemany("DELETE FROM dead_letters WHERE seq = ?", [(r[0],) for r in rows])
        return len(rows)

    def close(self) -> None:
        with _gate:
            for db in self._connections:
                db.close()
            self._connections = []
            self._local = threading.local()


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
