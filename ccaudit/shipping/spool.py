"""The durable spool: audit events on local disk until the service has stored them.

One SQLite file (standard library) in WAL mode, shared by every worker process of a platform on a
host (pre-fork servers included). Three ways in:

- ``append``, the request path: the events of one group commit (``commit.py``) as one line of the
  process's journal (``journal.py``), before the response is sent. This replaces the design's
  earlier "the request path never does I/O" for audit, learning and consent events: one line copied
  into a memory mapping of the file, which survives the process being killed.
- ``fold``: the recorder's thread (every flush interval) and each claim move the journals' lines
  into batches, and note how far each journal was folded in the same transaction.
- ``put``, the recorder's thread: events that waited in memory (the ``deferred`` durability, events
  noted after the response, a request-path write that failed), straight into batches.

A row of ``batches`` holds the events of one flush or of several journal lines, as a JSON array, so
that claiming and acknowledging cost one row operation per batch instead of one per event. Shippers
in any of the processes *claim* ready rows under a time-limited lease, send them, then delete them
(ack) or release them (retry). Events the service refuses move, one by one and with the reason, to
the dead-letter table, and the rest of their batch stays to be sent again. A process that dies
holding a lease simply lets it expire, and another shipper sends those rows again: the service
recognises a redelivered event by its id, so every event accepted here is stored exactly once,
however the batches are regrouped.

Bounds, all configuration: at most ``max_events`` events (a full spool refuses new events, and the
caller counts and reports the loss, or refuses the operation on fail-closed routes; the request
path checks a count kept in memory, refreshed every flush interval, so the bound may be overshot by
what the other processes wrote since); batches older than ``max_age`` seconds move to the dead
letters; dead letters older than ``dead_max_age`` are deleted (counted and logged). The tables
(``bodies``, ``dead_letters``) and the journals hold personal data outside ClickHouse, which is why
their age is bounded and why they are listed in ``ccaudit.store.tables``.

Durability: ``synchronous=NORMAL``: a commit survives the process being killed; a power loss or an
operating-system crash only once the next checkpoint has run, which the recorder's thread does
every flush interval (a checkpoint syncs the log first). ``sync()`` makes the request path's lines
survive a power loss at once (an ``fsync`` of the process's journal). A journal is deleted only once
what was folded from it is on the disk. Connections are per thread and per process (a SQLite
connection must never cross a fork); writes go through one connection per process, under the
writer lock (``locks.py``).
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

from ccaudit.events import EXPANSION_BYTES
from ccaudit.shipping import journal, locks
from ccaudit.shipping.locks import FileLock

log = logging.getLogger("ccaudit.spool")

# A row holds at most this many events and (beyond its first event) bytes of JSON, so that a claim
# never has to split a row to stay under its limits, and a shipment stays under the service's.
ROW_EVENTS = 1000
ROW_BYTES = 4 * 1024 * 1024
# Past this size the write-ahead log is cut back after a checkpoint (it is reused from its start).
_WAL_LIMIT = 64 * 1024 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    events      INTEGER NOT NULL,
    enqueued_at REAL NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    not_before  REAL NOT NULL DEFAULT 0,
    lease_until REAL NOT NULL DEFAULT 0,
    size        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS batches_ready ON batches (not_before, lease_until);
-- Bodies apart: SQLite rewrites a whole row on UPDATE, and leases and retries update batches often.
CREATE TABLE IF NOT EXISTS bodies (
    seq  INTEGER PRIMARY KEY,
    body TEXT NOT NULL
);
-- How far each journal (journal.py) has been folded into batches, in bytes.
CREATE TABLE IF NOT EXISTS journals (
    name    TEXT PRIMARY KEY,
    folded  INTEGER NOT NULL
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
        self._writer_db: sqlite3.Connection | None = None
        self._writer_pid = -1
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(path.with_name(path.name + ".lock"))
        self._wal = str(path) + "-wal"
        self.journals = path.with_name(path.name + ".journal")
        self._journal = journal.Journal(self.journals)
        with locks.gate, self._lock:
            self._writer().executescript(_SCHEMA)
        self._upgrade()
        # Events in the file as this process last counted them, plus what it wrote since: the
        # request path checks room against it without a query.
        self._known_depth = self.depth()
        _spools.add(self)

    def _upgrade(self) -> None:
        with self._tx() as db:
            columns = {row[1] for row in db.execute("PRAGMA table_info(batches)")}
            if "size" not in columns:
                # Spools of the previous layout: each batch's size, once, so claims can stay under the
                # service's byte limit without reading bodies under the write lock.
                db.execute("ALTER TABLE batches ADD COLUMN size INTEGER NOT NULL DEFAULT 0")
                db.execute("UPDATE batches SET size = (SELECT length(body) FROM bodies WHERE bodies.seq = batches.seq)")
            # Spools written by ccaudit 0.1 hold one event per row in a table named ``spool``: move its
            # events into batches, keeping their order and age, so an upgrade loses nothing.
            if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'spool'").fetchone() is None:
                return
            old = db.execute("SELECT body, enqueued_at FROM spool ORDER BY seq").fetchall()
            for start in range(0, len(old), ROW_EVENTS):
                chunk = old[start : start + ROW_EVENTS]  # each keeps the age of its oldest event
                _append(db, _rows([str(r[0]) for r in chunk]), min(float(r[1]) for r in chunk))
            db.execute("DROP TABLE spool")
        log.warning("ccaudit: moved %d spooled events into the batch layout", len(old))

    # --- connections ---

    def _connect(self) -> sqlite3.Connection:
        # Connections are used by one thread at a time (thread-local, or the writer under its lock),
        # but close() runs on whichever thread closes the spool.
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=30000")
        db.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints wait for the disk: never in a commit
        db.execute(f"PRAGMA journal_size_limit={_WAL_LIMIT}")
        self._connections.append(db)
        return db

    def _db(self) -> sqlite3.Connection:
        """This thread's connection, for reads."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None or getattr(self._local, "pid", None) != os.getpid():
            db = self._connect()
            self._local.db = db
            self._local.pid = os.getpid()
        return db

    def _writer(self) -> sqlite3.Connection:
        """The process's connection for writes; used only under the gate and the writer lock."""
        if self._writer_db is None or self._writer_pid != os.getpid():
            self._writer_db = self._connect()
            self._writer_pid = os.getpid()
        return self._writer_db

    def _after_fork(self) -> None:
        # A child must never use, nor close, a connection its parent opened: closing one runs
        # SQLite's cleanup against locks and WAL state the parent still relies on. Keep them alive,
        # unused, for the life of the child.
        _abandoned.extend(self._connections)
        self._connections = []
        self._local = threading.local()
        self._writer_db, self._writer_pid = None, -1

    class _Tx:
        def __init__(self, spool: Spool) -> None:
            self.spool = spool

        def __enter__(self) -> sqlite3.Connection:
            self.gate = locks.gate
            self.gate.acquire()
            try:
                self.spool._lock.__enter__()
                try:
                    self.db = self.spool._writer()
                    # IMMEDIATE takes SQLite's write lock up front (it is free: we hold the file lock).
                    self.db.execute("BEGIN IMMEDIATE")
                except BaseException:
                    self.spool._lock.__exit__(None, None, None)
                    raise
            except BaseException:
                self.gate.release()
                raise
            return self.db

        def __exit__(self, kind: object, value: object, tb: object) -> None:
            try:
                self.db.execute("COMMIT" if kind is None else "ROLLBACK")
            finally:
                self.spool._lock.__exit__(None, None, None)
                self.gate.release()

    def _tx(self) -> Spool._Tx:
        return Spool._Tx(self)

    def _read(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        with locks.gate:
            return list(self._db().execute(sql, params).fetchall())

    # --- writing ---

    def append(self, items: Sequence[str]) -> None:
        """Write events (each its wire JSON object) to this process's journal now, in one system call;
        raises OSError when they could not be written. The caller checks ``has_room`` first."""
        if items:
            self.write([(len(items), journal_lines(items, time.time()))])

    def write(self, entries: Sequence[tuple[int, bytes]]) -> None:
        """The request path: journal lines (``journal.line``/``array_line``, each with its count of
        events) to this process's journal now, in one system call; raises OSError when they could not
        be written. The caller checks ``has_room`` first, and keeps each line within a batch row's
        bounds (``fits_row``)."""
        if not entries:
            return
        self._journal.append(entries[0][1] if len(entries) == 1 else b"".join(data for _, data in entries))
        self._known_depth += sum(events for events, _ in entries)

    def sync(self) -> None:
        """Make the request path's lines so far survive a power loss: fsync this process's journal.
        Blocking I/O."""
        self._journal.sync()

    def _sync_log(self) -> None:
        """Make every commit so far survive a power loss: fsync SQLite's write-ahead log."""
        try:
            # Never an fd on the database file itself: closing one would drop the POSIX locks SQLite
            # holds on it in this process. SQLite locks the -shm file, not the log.
            fd = os.open(self._wal, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return  # no log: every commit was checkpointed into the database file, and synced
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def put(self, bodies: Sequence[str]) -> int:
        """Append events (each its wire JSON object); returns how many were accepted.

        When the spool is full, only as many as fit are accepted, the first ones (the rest is the
        caller's loss to count). The recorder's thread, off the request path: it counts exactly.
        """
        if not bodies:
            return 0
        now = time.time()
        with self._tx() as db:
            depth = self._depth(db)
            accepted = bodies[: max(0, self.max_events - depth)]
            _append(db, _rows(accepted), now)
            self._known_depth = depth + len(accepted)
        return len(accepted)

    def fold(self) -> int:
        """Move the journals' lines into batches; returns how many events moved."""
        with self._tx() as db:
            moved, finished = self._fold(db)
        self._forget_journals(finished)
        return moved

    def _fold(self, db: sqlite3.Connection) -> tuple[int, list[Path]]:
        """Inside a write transaction: each journal's new complete lines into batches, merged up to a
        row's bounds, in their order, and how far it was folded. Returns the events moved and the
        journals nobody writes to any more, folded to their end."""
        folded = dict(db.execute("SELECT name, folded FROM journals").fetchall())
        moved = 0
        finished: list[Path] = []
        for path in journal.files(self.journals):
            # Whether its writer is gone is asked first: then nothing can be added after the read.
            abandoned = not journal.owned(path)
            start = int(folded.get(path.name, 0))
            lines, used, left = journal.read(path, start)
            if lines:
                _append_lines(db, lines)
                moved += sum(entry.events for entry in lines)
                db.execute(
                    "INSERT INTO journals (name, folded) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET folded = ?",
                    (path.name, start + used, start + used),
                )
            if abandoned:
                if left:  # cut short by a crash while it was written: never answered
                    log.warning("ccaudit: %d bytes at the end of the journal %s were cut short; dropped", left, path)
                finished.append(path)
        return moved, finished

    def _forget_journals(self, finished: list[Path]) -> None:
        """Delete journals folded to their end whose writer is gone, once what was folded from them is
        on the disk (the spool's log synced), and then their progress rows."""
        if not finished:
            return
        self._sync_log()
        for path in finished:
            path.unlink(missing_ok=True)
        with self._tx() as db:
            present = {p.name for p in journal.files(self.journals)}
            stale = [name for (name,) in db.execute("SELECT name FROM journals") if name not in present]
            db.executemany("DELETE FROM journals WHERE name = ?", [(name,) for name in stale])

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database file, without blocking writers (PASSIVE)."""
        with locks.gate:
            self._db().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def depth(self) -> int:
        """Events waiting, in the spool and not yet folded from the journals (counted now)."""
        with locks.gate:
            return self._depth(self._db())

    def _depth(self, db: sqlite3.Connection) -> int:
        batched = db.execute("SELECT total(events) FROM batches").fetchone()[0]
        return int(batched) + sum(entry.events for entry in self._unfolded(db))

    def _unfolded(self, db: sqlite3.Connection) -> list[journal.Line]:
        folded = dict(db.execute("SELECT name, folded FROM journals").fetchall())
        return [e for p in journal.files(self.journals) for e in journal.read(p, int(folded.get(p.name, 0)))[0]]

    def refresh(self) -> int:
        """Count the events waiting, for ``has_room``; returns the count."""
        self._known_depth = depth = self.depth()
        return depth

    def has_room(self, events: int = 1) -> bool:
        """Whether ``events`` more fit, by the count kept in memory (no I/O: the request path asks)."""
        return self._known_depth + events <= self.max_events

    # --- shipping ---

    def claim(self, limit: int, lease: float, max_bytes: int | None = None) -> list[SpooledBatch]:
        """Lease ready batches, oldest first, for ``lease`` seconds: as many as fit in ``limit``
        events (and ``max_bytes`` of JSON), and at least one."""
        now = time.time()
        chosen: list[tuple[int, int, int]] = []
        total = size = 0
        with self._tx() as db:
            _, finished = self._fold(db)
            ready = db.execute(
                "SELECT seq, events, size, attempts FROM batches "
                "WHERE not_before <= ? AND lease_until <= ? ORDER BY seq",
                (now, now),
            )
            for seq, events, row_size, attempts in ready:
                too_big = max_bytes is not None and size + int(row_size) > max_bytes
                if chosen and (total + int(events) > limit or too_big):
                    break
                chosen.append((int(seq), int(events), int(attempts)))
                total += int(events)
                size += int(row_size)
            ready.close()
            db.executemany(
                "UPDATE batches SET lease_until = ? WHERE seq = ?", [(now + lease, seq) for seq, _, _ in chosen]
            )
        self._forget_journals(finished)
        # The bodies are read after the write lock is released: the rows are ours for the lease, and
        # reading megabytes under it would hold up the other processes' shippers.
        bodies = self._bodies([seq for seq, _, _ in chosen])
        return [SpooledBatch(seq, events, bodies[seq], attempts) for seq, events, attempts in chosen if seq in bodies]

    def _bodies(self, seqs: Sequence[int]) -> dict[int, str]:
        found: dict[int, str] = {}
        with locks.gate:
            db = self._db()
            for start in range(0, len(seqs), 500):
                chunk = seqs[start : start + 500]
                marks = ",".join("?" * len(chunk))
                found.update(
                    (int(s), str(b))
                    for s, b in db.execute(f"SELECT seq, body FROM bodies WHERE seq IN ({marks})", chunk)
                )
        return found

    def ack(self, seqs: Iterable[int]) -> None:
        """The service stored these batches: forget them."""
        with self._tx() as db:
            self._known_depth -= sum(_forget(db, seq) for seq in seqs)

    def retry(self, seqs: Iterable[int], delay: float = 0.0) -> None:
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
                    text = "[" + ",".join(keep) + "]"
                    db.execute(
                        "UPDATE batches SET events = ?, size = ?, lease_until = 0 WHERE seq = ?",
                        (len(keep), len(text), batch.seq),
                    )
                    db.execute("UPDATE bodies SET body = ? WHERE seq = ?", (text, batch.seq))
                else:
                    _forget(db, batch.seq)
            self._known_depth -= moved
        return moved

    # --- bounds and operators ---

    def enforce_age(self) -> tuple[int, int]:
        """Dead-letter spooled events older than max_age; delete dead letters older than dead_max_age.

        Returns (events dead-lettered, dead letters deleted).
        """
        now = time.time()
        moved = 0
        with self._tx() as db:
            _, finished = self._fold(db)
            old = db.execute(
                "SELECT seq, body FROM batches JOIN bodies USING (seq) WHERE enqueued_at < ?", (now - self.max_age,)
            ).fetchall()
            reason = f"not delivered within {self.max_age:.0f}s"
            for seq, body in old:
                for event_id, event in split(str(body)):
                    _bury(db, event_id, event, reason, now)
                    moved += 1
                _forget(db, seq)
            self._known_depth -= moved
            deleted = db.execute("DELETE FROM dead_letters WHERE failed_at < ?", (now - self.dead_max_age,)).rowcount
        self._forget_journals(finished)
        if moved:
            log.error("ccaudit: %d audit events were not delivered in time and moved to the dead letters", moved)
        if deleted:
            log.error("ccaudit: %d dead letters passed their maximum age and were deleted", deleted)
        return moved, deleted

    def status(self) -> SpoolStatus:
        now = time.time()
        with locks.gate:
            db = self._db()
            # One read transaction: the three counts see the same state of the file.
            db.execute("BEGIN")
            try:
                depth, oldest = db.execute("SELECT total(events), min(enqueued_at) FROM batches").fetchone()
                unfolded = self._unfolded(db)
                fresh = sum(entry.events for entry in unfolded)
                fresh_oldest = min((entry.at for entry in unfolded), default=None)
                ready = db.execute(
                    "SELECT total(events) FROM batches WHERE not_before <= ? AND lease_until <= ?", (now, now)
                ).fetchone()[0]
                dead = db.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
            finally:
                db.execute("COMMIT")
        oldest = min((t for t in (oldest, fresh_oldest) if t is not None), default=None)
        return SpoolStatus(
            depth=int(depth) + int(fresh),
            ready=int(ready) + int(fresh),
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
        with locks.gate:
            for db in self._connections:
                db.close()
            self._connections = []
            self._local = threading.local()
            self._writer_db, self._writer_pid = None, -1
        self._lock.close()
        self._journal.close()


def journal_lines(items: Sequence[str], now: float) -> bytes:
    """Events (each its wire JSON object) as journal lines a batch row can each hold."""
    return b"".join(journal.line(chunk, now) for chunk in _chunks(items))


def fits_row(events: int, array: bytes) -> bool:
    """Whether a JSON array of ``events`` events in the compact form can be one journal line, and so,
    once expanded, one batch row."""
    return events <= ROW_EVENTS and len(array) + events * EXPANSION_BYTES <= ROW_BYTES


def _chunks(items: Sequence[str]) -> Iterator[list[str]]:
    """Items in groups a batch row can hold (ROW_EVENTS events, ROW_BYTES bytes)."""
    chunk: list[str] = []
    size = 0
    for item in items:
        if chunk and (len(chunk) == ROW_EVENTS or size + len(item) > ROW_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += len(item) + 1
    if chunk:
        yield chunk


def _append(db: sqlite3.Connection, rows: Iterable[tuple[int, str]], enqueued_at: float) -> None:
    for events, body in rows:
        seq = db.execute(
            "INSERT INTO batches (events, enqueued_at, size) VALUES (?, ?, ?)", (events, enqueued_at, len(body))
        ).lastrowid
        db.execute("INSERT INTO bodies (seq, body) VALUES (?, ?)", (seq, body))


def _append_lines(db: sqlite3.Connection, lines: Sequence[journal.Line]) -> None:
    """Journal lines into batch rows, merged up to a row's bounds, each row as old as its oldest line."""
    items: list[str] = []
    count = size = 0
    oldest = lines[0].at
    for entry in lines:
        text = entry.array()[1:-1]
        if items and (count + entry.events > ROW_EVENTS or size + len(text) > ROW_BYTES):
            _append(db, [(count, "[" + ",".join(items) + "]")], oldest)
            items, count, size, oldest = [], 0, 0, entry.at
        items.append(text)
        count += entry.events
        size += len(text) + 1
        oldest = min(oldest, entry.at)
    _append(db, [(count, "[" + ",".join(items) + "]")], oldest)


def _forget(db: sqlite3.Connection, seq: int) -> int:
    """Delete a batch; returns how many events it held."""
    row = db.execute("DELETE FROM batches WHERE seq = ? RETURNING events", (seq,)).fetchone()
    db.execute("DELETE FROM bodies WHERE seq = ?", (seq,))
    return int(row[0]) if row is not None else 0


def _bury(db: sqlite3.Connection, event_id: str, body: str, reason: str, now: float) -> None:
    db.execute(
        "INSERT INTO dead_letters (event_id, body, reason, failed_at) VALUES (?, ?, ?, ?)",
        (event_id, body, reason[:2000], now),
    )


# Every SQLite call of the spool holds ``locks.gate``, which fork() takes first.
_spools: weakref.WeakSet[Spool] = weakref.WeakSet()
_abandoned: list[sqlite3.Connection] = []


def _after_fork_in_child() -> None:
    for spool in list(_spools):
        spool._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
