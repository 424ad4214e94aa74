"""Journals: the request path's write-ahead log, one file per process, in front of the shared spool.

A request that must have its events on disk before its response appends one line to its process's
journal: one ``write()`` of the events' JSON, no lock shared with any other process, no SQLite. When
``write()`` returns the line is in the kernel's page cache: it survives the process being killed,
not a power loss or an operating-system crash (``sync`` waits for the disk too). The recorder's
thread of any process sharing the spool folds the journals' complete lines into the spool's batches
every flush interval (``Spool.fold``), remembering in the spool how far each journal was folded,
in the same transaction, so each line is folded exactly once.

This replaces, for the request path, a commit into the shared SQLite file: measured here, that commit
took 60-100 µs in a request (about ten system calls, six of them SQLite's file locks, on cold caches)
and, with four pre-fork workers on one file, a worker preempted while holding the file's write lock
made the others wait for it: 0.8 ms at the median. A journal line costs one system call and waits for
no one.

Layout, in ``<spool file>.journal/``: ``<time begun>-<pid>-<random>.log``, lines ``<events>\\t<unix
time, ms>\\t<JSON array>\\n`` (JSON from the encoder never holds a raw newline); the request path
writes its events in the compact form (``ccaudit.events.compact``), marked ``c`` before the array, and
folding expands them into wire objects. A file is made
under a temporary name, locked (``flock``, exclusive, held while the process writes to it), then
renamed, so no other process ever sees it unowned before its first line. A process starts a new
file past ``ROTATE_BYTES``, and after a fork; a file nobody holds, folded to its end, is deleted. A
line without its newline in a file nobody holds was cut short by a crash while it was written: its
request was never answered, and it is dropped.

Journals hold personal data outside ClickHouse, like the spool's tables, for at most a flush interval
or two while a platform process runs.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from ccaudit.events import expand

ROTATE_BYTES = 16 * 1024 * 1024
SUFFIX = ".log"


def line(items: list[str], now: float) -> bytes:
    """One journal line: the events (each its wire JSON object), their count and the time (ms)."""
    return f"{len(items)}\t{int(now * 1000)}\t[{','.join(items)}]\n".encode()


def compact_line(events: int, array: bytes, now: float) -> bytes:
    """One journal line of ``events`` events in the compact form (``ccaudit.events.compact``), already
    encoded as one JSON array: the request path's usual line."""
    return b"%d\t%d\t%c%b\n" % (events, int(now * 1000), COMPACT, array)


class Journal:
    """This process's journal in ``folder``. Thread-safe; a forked child starts a file of its own."""

    def __init__(self, folder: Path, rotate_bytes: int | None = None) -> None:
        self.folder = folder
        self.rotate_bytes = rotate_bytes
        self._lock = threading.Lock()
        self._fd = -1
        self._size = 0
        folder.mkdir(parents=True, exist_ok=True)
        _journals.add(self)

    def append(self, data: bytes) -> None:
        """Write one line (``line``); raises OSError when it could not be written whole."""
        with self._lock:
            if self._fd < 0 or self._size >= (self.rotate_bytes or ROTATE_BYTES):
                self._start()
            written = os.write(self._fd, data)
            while written < len(data):  # a regular file takes a short write only when the disk fills up
                written += os.write(self._fd, data[written:])
            self._size += len(data)

    def sync(self) -> None:
        """Wait until every line written so far is on the disk itself (fsync). Blocking I/O.

        Outside the lock: appends of other requests go on while one waits for the disk (on a copy of
        the descriptor, which a new file cannot take away meanwhile).
        """
        with self._lock:
            fd = os.dup(self._fd) if self._fd >= 0 else -1
        if fd >= 0:
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)  # and so the flock: the folder may delete it once folded
            self._fd, self._size = -1, 0

    def _start(self) -> None:
        name = f"{time.time_ns()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"  # folded in the order they were begun
        temporary = self.folder / f"{name}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(temporary, self.folder / f"{name}{SUFFIX}")
        except BaseException:
            os.close(fd)
            raise
        if self._fd >= 0:
            os.close(self._fd)
        self._fd, self._size = fd, 0

    def _after_fork(self) -> None:
        # The parent's file and its lock stay the parent's: the child closes its copy (which does not
        # release the parent's lock) and starts a file of its own on its first line.
        self._lock = threading.Lock()
        if self._fd >= 0:
            os.close(self._fd)
        self._fd, self._size = -1, 0


COMPACT = ord("c")  # marks a line whose array holds events in the compact form


@dataclass(frozen=True, slots=True)
class Line:
    events: int
    at: float
    body: str  # a JSON array, of wire objects or (after the COMPACT mark) of events in the compact form

    def array(self) -> str:
        """The events as one JSON array of wire objects."""
        if self.body[:1] != chr(COMPACT):
            return self.body
        return orjson.dumps([expand(item) for item in orjson.loads(self.body[1:])]).decode()


def files(folder: Path) -> list[Path]:
    """The journals in ``folder`` (files being made are not yet journals)."""
    try:
        return sorted(p for p in folder.iterdir() if p.name.endswith(SUFFIX))
    except FileNotFoundError:
        return []


def owned(path: Path) -> bool:
    """Whether a process still writes to ``path`` (holds its lock)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # and with it our probe's lock
    return False


def read(path: Path, offset: int) -> tuple[list[Line], int, int]:
    """The complete lines of ``path`` from byte ``offset``: (lines, bytes they take, bytes left after
    them: a line being written, or one a crash cut short)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return [], 0, 0
    end = data.rfind(b"\n") + 1
    return list(_parse(data[:end])), end, len(data) - end


def _parse(data: bytes) -> Iterator[Line]:
    for raw in data.splitlines():
        events, at, body = raw.decode().split("\t", 2)
        yield Line(int(events), int(at) / 1000.0, body)


_journals: weakref.WeakSet[Journal] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for journal in list(_journals):
        journal._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
