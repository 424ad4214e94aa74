"""The locks around the spool file: against fork, and between writers.

Fork: every SQLite call of the spool holds one of two process-wide gates, and ``fork()`` takes both
first, so no thread is inside SQLite when a process forks (a child forked while another thread held
SQLite's internal mutexes deadlocks in its first SQLite call, seen under gunicorn ``--preload``).
The request path has a gate of its own, so a shipper reading a large batch never holds up a request
committing its event; the recorder's threads share the other.

Writers: ``FileLock`` is a ``flock`` on a side file, so one writer at a time across the processes
sharing a spool, and across a process's request path and its recorder's threads (each holds its own
open file, and ``flock`` excludes open files, not processes). SQLite serialises writers by itself,
but a writer that finds the database locked sleeps at least a millisecond before it tries again; a
process waiting on ``flock`` is woken the moment the lock is free. While one process commits, the
others' requests gather into their next group commit (``commit.py``): that is how the workers of a
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


class FileLock:
    """``flock`` on its own open file; reopened in a forked child (parent and child would otherwise
    share the open file, and so the lock). Not a mutex between threads: callers hold a gate."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1
        self._pid = -1
        _locks.add(self)

    def fd(self) -> int:
        if self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd

    def __enter__(self) -> None:
        fcntl.flock(self.fd(), fcntl.LOCK_EX)

    def __exit__(self, kind: object, value: object, tb: TracebackType | None) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd >= 0 and self._pid == os.getpid():
            os.close(self._fd)
        self._fd, self._pid = -1, -1

    def _after_fork(self) -> None:
        # The parent held no flock at the fork (the gates closed first): the child opens its own file.
        if self._fd >= 0:
            os.close(self._fd)
        self._fd, self._pid = -1, -1


_locks: weakref.WeakSet[FileLock] = weakref.WeakSet()


class Gates:
    """The two process-wide gates; ``fork()`` holds both (see the module docstring)."""

    def __init__(self) -> None:
        self.request = threading.Lock()  # the request path's commits: one group commit at a time
        self.background = threading.RLock()  # the recorder's threads and everything else

    def before_fork(self) -> None:
        self.background.acquire()
        self.request.acquire()

    def after_fork_in_parent(self) -> None:
        self.request.release()
        self.background.release()


gates = Gates()


def _before_fork() -> None:
    gates.before_fork()


def _after_fork_in_parent() -> None:
    gates.after_fork_in_parent()


def _after_fork_in_child() -> None:
    global gates
    gates = Gates()
    for lock in list(_locks):
        lock._after_fork()


if hasattr(os, "register_at_fork"):
    # Looked up at call time: a child replaces the gates, and its own children must use the new ones.
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)
