"""Deadlines for slow clients and a cap on open connections, inside the HTTP protocol uvicorn runs.

uvicorn bounds neither the time a client takes to send a request's headers nor its body. A connection
that sends a byte now and then stays open for ever: its keep-alive timer is cancelled by every byte
received and armed again only after a response. Each such connection holds a file descriptor, and
once the process runs out of them it cannot accept another connection, ``/health`` included. This
module subclasses uvicorn's httptools protocol (``uvicorn.Config(http=...)``) to add:

- **a header deadline** (``CCAUDIT_HEADER_TIMEOUT``): a request's headers must be complete within it,
  counted from the connection's start, or on a kept-alive connection from the first byte of the next
  request; more bytes do not restart it. Past it: 408 and the connection is closed. A connection that
  sends nothing at all is closed silently when it passes.
- **a body deadline** (``CCAUDIT_BODY_TIMEOUT``): the body must be complete within it, counted from
  the end of the headers. Past it the route sees the client gone (``http.disconnect``), the client gets
  408 if no answer was started, and the connection is closed. Time the service itself keeps the body
  waiting (the route has not read what arrived, so uvicorn stopped reading) does not count. The
  default, 30 s, lets a platform send ingest's largest batch (16 MiB) at 4.5 Mbit/s; a slower link
  needs a longer ``CCAUDIT_BODY_TIMEOUT`` or smaller batches.
- **a header size limit** (:data:`MAX_HEADER_BYTES`): past it, 431 and the connection is closed.
- **a connection cap** (``CCAUDIT_MAX_CONNECTIONS``): at the cap a new connection makes room by
  closing the connection that has waited longest for its client (idle between requests, or still
  sending one). When every connection holds a request the service is working on, the new connection
  gets 503 and is closed. uvicorn's own ``limit_concurrency`` is not used: it counts the waiting
  connections too and answers every new request 503 (``/health`` included) while they are held.
  The cap and uvicorn's listen backlog are fitted at start to the process's open-file limit
  (:func:`fit_to_open_files`).

Within these bounds one process survives a slow-client flood; it does not replace the front a public
deployment needs. In production, put a reverse proxy in front of the service and let it hold slow
clients, e.g. nginx with ``client_header_timeout 10s; client_body_timeout 10s;`` (between two reads),
``send_timeout 10s; keepalive_timeout 5s; client_max_body_size 17m;`` (ingest's limit is 16 MiB),
``limit_conn`` per client address, and ``proxy_request_buffering on`` (the default), so that the
service receives each request whole and at once. Run the service with a generous ``ulimit -n``.
"""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# Headers larger than this are refused (nginx's default buffers hold 32 KiB, Node's parser 16 KiB).
MAX_HEADER_BYTES = 64 * 1024
# Open files kept free above those in use at start: the engine opens parts and logs as it works.
FILE_HEADROOM = 256
# The listen backlog, which asyncio also takes as the number of connections it accepts at once. A
# connection is counted against the cap only once accepted, a few loop turns later, so a few batches
# (ACCEPTED_BATCHES, counted with a margin) are open beyond the cap: small batches keep that excess
# within the open-file limit. A smaller backlog only makes a client wait for a slot in a burst.
ACCEPT_BACKLOG = 128
MIN_BACKLOG = 16
ACCEPTED_BATCHES = 4
# A cap is never lowered below this, whatever the open-file limit.
MIN_CONNECTIONS = 16


def _answer(status: bytes, message: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: "
        + str(len(message)).encode() + b"\r\nconnection: close\r\n\r\n" + message
    )  # fmt: skip


TIMED_OUT = _answer(b"408 Request Timeout", b"request not received in time")
HEADERS_TOO_LARGE = _answer(b"431 Request Header Fields Too Large", b"request headers too large")
BUSY = _answer(b"503 Service Unavailable", b"too many connections")


class ConnectionGuard:
    """The deadlines, the cap, and the connections waiting for their clients, oldest first: shared by
    every connection of one server (one event loop, so no lock)."""

    def __init__(self, header_timeout: float, body_timeout: float, max_connections: int) -> None:
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.max_connections = max_connections
        self.open: set[GuardedHttpProtocol] = set()
        self.waiting: OrderedDict[GuardedHttpProtocol, None] = OrderedDict()

    def admit(self, connection: GuardedHttpProtocol) -> bool:
        """Count ``connection`` in, closing the longest-waiting one at the cap; False if there is none."""
        if len(self.open) >= self.max_connections:
            if not self.waiting:
                return False
            oldest, _ = self.waiting.popitem(last=False)
            self.open.discard(oldest)
            oldest.transport.close()
        self.open.add(connection)
        return True

    def update(self, connection: GuardedHttpProtocol) -> None:
        """Note whether ``connection`` waits for its client; a waiting one keeps its place in line."""
        if connection in self.open and connection.waits_for_client():
            self.waiting.setdefault(connection)
        else:
            self.waiting.pop(connection, None)

    def forget(self, connection: GuardedHttpProtocol) -> None:
        self.open.discard(connection)
        self.waiting.pop(connection, None)


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the deadlines and the cap of :class:`ConnectionGuard`."""

    guard: ClassVar[ConnectionGuard]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        # What is being received: a request's headers, its body, or nothing (between requests).
        self._reading: Literal["headers", "body"] | None = None
        self._header_bytes = 0

    # --- state ---

    def waits_for_client(self) -> bool:
        """True unless the service is working on a request it has received whole. (Until the next
        request's headers are complete, ``cycle`` is the one before.)"""
        if self._reading == "body":
            return True
        return self.cycle is None or self.cycle.response_complete

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._deadline_passed)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _close(self, answer: bytes | None) -> None:
        if answer is not None:
            self.transport.write(answer)
        self.transport.close()

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self.guard.admit(self):
            self._close(BUSY)
            return
        self._arm(self.guard.header_timeout)
        self.guard.update(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.guard.forget(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading != "body":
            # Bytes of the next request: its headers' time starts with the first of them, and is not
            # restarted by the others (uvicorn's keep-alive timer was, by each).
            if self._deadline is None:
                self._arm(self.guard.header_timeout)
            self._header_bytes += len(data)
        super().data_received(data)
        if self._reading != "body" and self._header_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
            self._close(HEADERS_TOO_LARGE)

    # --- parser callbacks ---

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading = "headers"
        if self._deadline is None:
            self._arm(self.guard.header_timeout)
        self.guard.update(self)

    def on_headers_complete(self) -> None:
        self._reading = "body"
        self._header_bytes = 0
        self._arm(self.guard.body_timeout)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._reading = None
        self._disarm()
        super().on_message_complete()
        if self.cycle is not None and self.cycle.response_complete:
            # The route answered before the body ended (a 401, a 413): the connection is idle now,
            # and uvicorn's keep-alive timer was cancelled by the body's bytes, so this one bounds it.
            self._arm(self.guard.header_timeout)
        self.guard.update(self)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.guard.update(self)

    # --- the deadline ---

    def _deadline_passed(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._reading != "body" and not self.waits_for_client():
            # A pipelined request's headers while the service still answers the one before: the
            # server is not reading them yet, so their time has not run out.
            self._arm(self.guard.header_timeout)
            return
        if self._reading == "headers":
            self._close(TIMED_OUT)
        elif self._reading == "body":
            cycle = self.cycle
            if self.flow.read_paused and cycle is not None and not cycle.response_complete:
                # uvicorn stopped reading because the route has not taken what arrived yet: the wait
                # is the service's, not the client's, so the client's time has not run out.
                self._arm(self.guard.body_timeout)
                return
            if cycle is not None and not cycle.response_started:
                # The route reading the body sees the client gone, and nothing it answers goes out.
                cycle.disconnected = True
                cycle.message_event.set()
                self._close(TIMED_OUT)
            else:
                self._close(None)
        else:
            self._close(None)  # connected, or kept alive, and sent nothing


def guarded_protocol(guard: ConnectionGuard) -> type[GuardedHttpProtocol]:
    """The protocol class to give ``uvicorn.Config(http=...)``, bound to ``guard``."""

    class Guarded(GuardedHttpProtocol):
        pass

    Guarded.guard = guard
    return Guarded


def _open_files() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """What the server is given: the connection cap, the listen backlog, and the open-file limit
    they were fitted to (None: unlimited, or not a POSIX system)."""

    max_connections: int
    backlog: int
    open_files: int | None


def fit_to_open_files(max_connections: int) -> ConnectionLimits:
    """The cap and backlog that fit this process's open-file limit, raising its soft limit towards the
    hard one as far as they need.

    A process out of descriptors stops accepting connections altogether (asyncio retries a second
    later), which is what a flood of half-open connections did to ``/health``. Each accepted
    connection is a descriptor, and up to ``ACCEPTED_BATCHES`` batches of ``backlog`` connections are
    open before the cap sees them; the engine's descriptors at start and :data:`FILE_HEADROOM` are
    kept apart. Where the limit is too low for both, the backlog shrinks first, then the cap.
    """
    try:
        import resource
    except ImportError:  # not a POSIX system: no limit to fit
        return ConnectionLimits(max_connections, ACCEPT_BACKLOG, None)
    reserved = (_open_files() or 2 * FILE_HEADROOM) + FILE_HEADROOM
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = reserved + ACCEPTED_BATCHES * ACCEPT_BACKLOG + max_connections
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return ConnectionLimits(max_connections, ACCEPT_BACKLOG, None if soft == resource.RLIM_INFINITY else soft)
    budget = soft - reserved
    backlog = min(ACCEPT_BACKLOG, max(MIN_BACKLOG, budget // (2 * ACCEPTED_BATCHES)))
    cap = min(max_connections, max(MIN_CONNECTIONS, budget - ACCEPTED_BATCHES * backlog))
    return ConnectionLimits(cap, backlog, soft)
