"""The locks around the spool file: against fork, and between writers.

Fork: every SQLite call of the spool holds the process-wide ``gate``, and ``fork()`` takes it
first, so no thread is inside SQLite when a process forks (a child forked while another thread held
SQLite's internal mutexes deadlocks in its first SQLite call, seen under gunicorn ``--preload``).
The request path never calls SQLite (it writes to its process's journal, ``journal.py``), so it never
waits for the gate.

Writers: ``FileLock`` is a ``flock`` on a side file, one writer at a time across the processes
sharing a spool. SQLite serialises writers by itself, but a writer that finds the database locked
sleeps at least a millisecond before it tries again; a process waiting on ``flock`` is woken the
moment the lock is free. The lock is only a fast path: correctness still rests on SQLite's own
locking, so a process that does not take it (an older version, the ``sqlite3`` shell) is merely
slower. For the same reason the wait for it is bounded (``WAIT_S``): a process that hangs holding the
lock (stopped, or stuck in a debugger) must not stop every spool operation of the others, which
hold the gate while they wait; past the bound a writer goes on without it, on SQLite's locking.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
import weakref
from pathlib import Path
from types import TracebackType

log = logging.getLogger("ccaudit.spool")

WAIT_S = 10.0  # longest wait for another process's spool transaction: theirs take milliseconds


class FileLock:
    """``flock`` on its own open file; reopened in a forked child (parent and child would otherwise
    share the open file, and so the lock). Not a mutex between threads: callers hold the gate."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.wait_s = WAIT_S
        self._fd = -1
        self._pid = -1
        self._held = False
        self.timeouts = 0  # waits given up: another process held the lock past ``wait_s``
        _locks.add(self)

    def fd(self) -> int:
        if self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd

    def __enter__(self) -> None:
        fd = self.fd()
        deadline = time.monotonic() + self.wait_s
        pause = 0.0001
        # Polled rather than a blocking flock, which no timeout can interrupt on a thread. Only the
        # recorder's threads take this lock (the request path writes journals), so the poll's
        # latency, a few milliseconds at most, is never a request's.
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._held = True
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(pause)
                pause = min(pause * 2, 0.005)
        self.timeouts += 1
        log.warning("ccaudit: another process has held the spool lock %s for over %.0f s; writing without it",
                    self.path, self.wait_s)  # fmt: skip

    def __exit__(self, kind: object, value: object, tb: TracebackType | None) -> None:
        if self._held:
            self._held = False
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd >= 0 and self._pid == os.getpid():
            os.close(self._fd)
        self._fd, self._pid = -1, -1

    def _after_fork(self) -> None:
        # The parent held no flock at the fork (the gate closed first): the child opens its own file.
        if self._fd >= 0:
            os.close(self._fd)
        self._fd, self._pid, self._held = -1, -1, False


_locks: weakref.WeakSet[FileLock] = weakref.WeakSet()


# Every SQLite call of the spool holds it; fork() takes it first. Re-entrant: a transaction reads too.
gate = threading.RLock()


def _before_fork() -> None:
    gate.acquire()


def _after_fork_in_parent() -> None:
    gate.release()


def _after_fork_in_child() -> None:
    global gate
    gate = threading.RLock()
    for lock in list(_locks):
        lock._after_fork()


if hasattr(os, "register_at_fork"):
    # Looked up at call time: a child replaces the gate, and its own children must use the new one.
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)
