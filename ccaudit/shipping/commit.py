"""Group commit of the request path's durable writes, without a writer thread.

A request that must have its events on disk before its response calls ``commit(items)`` on its own
thread. If no other thread of the process is writing, it writes at once: one line of the process's
journal, no hand-over to another thread and back (that costs more than the write itself). If
another thread is writing, it leaves its items and waits; when that write is done, one of the
waiting threads writes everything that gathered meanwhile at once, for all of them. Processes need
no such sharing: each writes a journal of its own.

On an asyncio event loop this runs on the loop's thread: a write that does not wait for the disk
takes microseconds, like other work a request does there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class _Ticket(Generic[T]):
    __slots__ = ("done", "items", "ok", "wake")

    def __init__(self, items: Sequence[T]) -> None:
        self.items = items
        self.done = False
        self.ok = False
        self.wake = threading.Lock()  # held until the ticket is done, or its holder is to write next
        self.wake.acquire()


class GroupCommit(Generic[T]):
    """``commit(items) -> bool`` through ``write(items)``: True once the items are written.

    ``write`` raises when it cannot write; every caller whose items it held then gets False, and
    ``on_error`` gets the exception (once per failed write, on the thread that wrote).
    """

    def __init__(
        self, write: Callable[[Sequence[T]], None], on_error: Callable[[Exception], None] | None = None
    ) -> None:
        self._write = write
        self._on_error = on_error
        # Plain locks, not a Condition: the uncontended path, the usual one, takes one lock twice.
        self._lock = threading.Lock()
        self._waiting: list[_Ticket[T]] = []
        self._writing = False
        self.commits = 0  # writes done, for tests and the benchmark: fewer than callers under load

    def commit(self, items: Sequence[T]) -> bool:
        ticket: _Ticket[T] | None = None
        with self._lock:
            if self._writing:
                ticket = _Ticket(items)
                self._waiting.append(ticket)
            else:
                self._writing = True
        group: list[_Ticket[T]] = []
        batch = items
        if ticket is not None:
            ticket.wake.acquire()  # released when our items are written, or when we are to write next
            if ticket.done:
                return ticket.ok
            with self._lock:  # we write next: our items and all that gathered with them
                group, self._waiting = self._waiting, []
            batch = [item for t in group for item in t.items]
        ok = False
        try:
            self._write(batch)
            ok = True
        except Exception as exc:
            if self._on_error is not None:
                self._on_error(exc)
        finally:
            with self._lock:
                self.commits += 1
                for done in group:
                    done.ok, done.done = ok, True
                    done.wake.release()
                if self._waiting:
                    self._waiting[0].wake.release()  # the next writer: still "writing", handed over
                else:
                    self._writing = False
        return ok
