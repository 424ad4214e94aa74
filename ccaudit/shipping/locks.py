"""The two locks around the spool file: one against fork, one between writers.

``ForkGate``: every SQLite call of the spool runs inside the gate, and ``fork()`` waits until no
thread is inside it (a child forked while another thread held SQLite's internal mutexes deadlocks
in its first SQLite call, seen under gunicorn ``--preload``). Threads do not exclude each other in
the gate: a shipper reading a large batch never holds up a request committing its event.

``WriterLock``: one writer at a time on a spool file, across the threads of a process (a mutex) and
across the processes sharing the file (``flock`` on a side file). SQLite serialises writers by
itself, but a writer that finds the database locked sleeps at least a millisecond before it tries
again; a process waiting on ``flock`` is woken the moment the lock is free. While one process
commits, the others' requests gather into their next group commit: that is how the workers of a
pre-fork server share one file without paying SQLite's busy sleep. The lock is only a fast path:
correctness still rests on SQLite's own locking, so a process that does not take it (an older
version, the ``sqlite3`` shell) is merely slower.
"""

from __future__ import annotations

import fcntl
import os
import threading
import weakref
from pathlib import Path
from types import TracebackType


class ForkGate:
    """Many threads inside at once; ``fork()`` waits until none is (``os.register_at_fork``)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._inside = 0
        self._forking = False

    def __enter__(self) -> None:
        with self._cond:
            while self._forking:
                self._cond.wait()
            self._inside += 1

    def __exit__(self, kind: object, value: object, tb: TracebackType | None) -> None:
        with self._cond:
            self._inside -= 1
            if self._inside == 0 and self._forking:
                self._cond.notify_all()

    def close_for_fork(self) -> None:
        # Never entered from inside the gate: fork() is not called from a SQLite call.
        self._cond.acquire()
        self._forking = True
        while self._inside:
            self._cond.wait()

    def reopen_after_fork(self) -> None:
        self._forking = False
        self._cond.notify_all()
        self._cond.release()


class WriterLock:
    """Exclusive across threads and processes; reopened in a forked child (a ``flock`` belongs to the
    open file, which parent and child would otherwise share)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mutex = threading.Lock()
        self._fd = -1
        self._pid = -1
        _locks.add(self)

    def __enter__(self) -> None:
        self._mutex.acquire()
        try:
            if self._pid != os.getpid():
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                self._pid = os.getpid()
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._mutex.release()
            raise

    def __exit__(self, kind: object, value: object, tb: TracebackType | None) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._mutex.release()

    def close(self) -> None:
        with self._mutex:
            if self._fd >= 0 and self._pid == os.getpid():
                os.close(self._fd)
            self._fd, self._pid = -1, -1

    def _after_fork(self) -> None:
        # The parent held no flock at the fork (the gate closed first); the child opens its own file.
        self._mutex = threading.Lock()
        if self._fd >= 0:
            os.close(self._fd)
        self._fd, self._pid = -1, -1


_locks: weakref.WeakSet[WriterLock] = weakref.WeakSet()


def after_fork_in_child() -> None:
    for lock in list(_locks):
        lock._after_fork()
