"""Journals: the request path's write-ahead log, one file per process, in front of the shared spool.

A request that must have its events on disk before its response appends one line to its process's
journal: a copy into a shared memory mapping of the file, no system call, no lock shared with any
other process, no SQLite. Once copied the line is in the kernel's page cache: it survives the process
being killed, not a power loss or an operating-system crash (``sync`` waits for the disk too). The
recorder's thread of any process sharing the spool folds the journals' complete lines into the
spool's batches every flush interval (``Spool.fold``), remembering in the spool how far each journal
was folded, in the same transaction, so each line is folded exactly once.

This replaces, for the request path, a commit into the shared SQLite file: measured here, that commit
took 60-100 µs in a request (about ten system calls, six of them SQLite's file locks, on cold caches)
and, with four pre-fork workers on one file, a worker preempted while holding the file's write lock
made the others wait for it: 0.8 ms at the median. It also replaces a ``write()`` per line: the call
itself took under a microsecond, but it let go of the interpreter lock, and while the recorder's
threads had work (folding, shipping: each SQLite call lets go of the lock too) one of them took the
lock at every such call, and the request waited for it to give it back, 14 µs at the median. A copy
into the mapping keeps the lock.

Layout, in ``<spool file>.journal/``: ``<time begun>-<pid>-<random>.log``, lines ``<events>\t<unix
time, ms>\t<JSON array>\n`` (JSON from the encoder never holds a raw newline, nor a NUL byte); the
request path writes its events in the compact form (``ccaudit.events.compact``), marked ``c`` before
the array, and folding expands them into wire objects. A file is made at its full size (``SIZE``,
its blocks allocated, so that a full disk shows as an error when the file is made rather than as a
signal when a line is copied), zero-filled: the journal ends at its first NUL byte. It is made under a
temporary name, locked (``flock``, exclusive, held while the process writes to it), then renamed, so
no other process ever sees it unowned before its first line. A process starts a new file when a line
does not fit, and after a fork; a file nobody holds, folded to its end, is deleted. A line without its
newline in a file nobody holds was cut short by a crash while it was copied: its request was never
answered, and it is dropped. A reader that sees a line's newline before some of its bytes (possible
on CPUs that order stores loosely) meets a NUL first, and reads the line at its next fold.

Journals hold personal data outside ClickHouse, like the spool's tables, for at most a flush interval
or two while a platform process runs.
"""

from __future__ import annotations

import fcntl
import mmap
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

SIZE = 4 * 1024 * 1024  # a journal file's size: about 18,000 one-event lines
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

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._fd = -1
        self._map: mmap.mmap | None = None
        self._size = 0
        folder.mkdir(parents=True, exist_ok=True)
        _journals.add(self)

    def append(self, data: bytes) -> None:
        """Copy one line (``line``) in; raises OSError when a new file cannot be made (a full disk)."""
        with self._lock:
            mapping = self._map
            if mapping is None or self._size + len(data) > len(mapping):
                mapping = self._start(max(SIZE, len(data)))
            mapping[self._size : self._size + len(data)] = data
            self._size += len(data)

    def sync(self) -> None:
        """Wait until every line copied so far is on the disk itself (fsync: on Linux it writes the
        mapping's dirty pages too). Blocking I/O.

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
            self._release()

    def _release(self) -> None:
        if self._map is not None:
            self._map.close()
        if self._fd >= 0:
            os.close(self._fd)  # and so the flock: the folder may delete it once folded
        self._fd, self._map, self._size = -1, None, 0

    def _start(self, size: int) -> mmap.mmap:
        name = f"{time.time_ns()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"  # folded in the order they were begun
        temporary = self.folder / f"{name}.tmp"
        fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(fd, 0, size)
            else:  # macOS: sized, not allocated (a development machine)
                os.ftruncate(fd, size)
            mapping = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(fd)
            temporary.unlink(missing_ok=True)
            raise
        os.rename(temporary, self.folder / f"{name}{SUFFIX}")
        self._release()
        self._fd, self._map, self._size = fd, mapping, 0
        return mapping

    def _after_fork(self) -> None:
        # The parent's file, mapping and lock stay the parent's: the child unmaps and closes its copies
        # (which releases neither the parent's lock nor its mapping) and starts a file of its own on
        # its first line.
        self._lock = threading.Lock()
        self._release()


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
    them: a line being written, or one a crash cut short). The journal ends at its first NUL byte."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size <= offset:
                return [], 0, 0
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
                end = view.find(b"\0", offset)
                data = view[offset : size if end < 0 else end]
    except FileNotFoundError:
        return [], 0, 0
    complete = data.rfind(b"\n") + 1
    return list(_parse(data[:complete])), complete, len(data) - complete


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
