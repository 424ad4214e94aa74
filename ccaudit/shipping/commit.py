"""Group commit of the request path's durable writes, without a writer thread.

A request that must have its events on disk before its response calls ``commit(items)`` on its own
thread. If no other thread of the process is writing, it writes at once: one SQLite statement, no
hand-over to another thread and back (that costs more than the commit itself). If another thread is
writing, it leaves its items and waits; when that write is done, one of the waiting threads writes
everything that gathered meanwhile in one transaction, for all of them. So concurrent requests
share commits, and a process waiting for another process's commit (``locks.WriterLock``) gathers
its own requests into the next one: group commit across the threads and the processes that share a
spool file, with no cost when there is no contention.

On an asyncio event loop this runs on the loop's thread: a commit that does not wait for the disk
takes tens of microseconds, like other work a request does there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence


class _Ticket:
    __slots__ = ("done", "items", "ok")

    def __init__(self, items: Sequence[str]) -> None:
        self.items = items
        self.done = False
        self.ok = False


class GroupCommit:
    """``commit(items) -> bool`` through ``write(items)``: True once the items are written.

    ``write`` raises when it cannot write; every caller whose items it held then gets False, and
    ``on_error`` gets the exception (once per failed write, on the thread that wrote).
    """

    def __init__(
        self, write: Callable[[Sequence[str]], None], on_error: Callable[[Exception], None] | None = None
    ) -> None:
        self._write = write
        self._on_error = on_error
        self._cond = threading.Condition(threading.Lock())
        self._waiting: list[_Ticket] = []
        self._writing = False
        self.commits = 0  # writes done, for tests and the benchmark: fewer than callers under load

    def commit(self, items: Sequence[str]) -> bool:
        group: list[_Ticket]
        with self._cond:
            if self._writing:
                ticket = _Ticket(items)
                self._waiting.append(ticket)
                while self._writing and not ticket.done:
                    self._cond.wait()
                if ticket.done:
                    return ticket.ok
                # The writer finished without our items (they came after it took its group): we
                # write the next group, ours and what gathered with it.
                group = self._waiting
                self._waiting = []
                batch = [item for t in group for item in t.items]
            else:
                group = []
                batch = list(items)
            self._writing = True
        ok = False
        try:
            self._write(batch)
            ok = True
        except Exception as exc:
            if self._on_error is not None:
                self._on_error(exc)
        finally:
            with self._cond:
                self.commits += 1
                for ticket in group:
                    ticket.ok, ticket.done = ok, True
                self._writing = False
                self._cond.notify_all()
        return ok
