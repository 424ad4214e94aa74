"""One backoff state per destination (the service's URL), shared by every sender of a recorder.

A failure of the service is a fact about the service, not about the events that happened to be in
the batch: so the retry schedule belongs here, and new events never shorten it. While the service
answers, senders send as they please. After a failure, nothing is sent before the schedule's next
slot, and then only one send at a time (a probe) until one succeeds:

    wait after the k-th failure in a row = uniform(d/2, d),  d = min(backoff_max, base * 2**(k-1))

("equal jitter": many platform processes do not retry in step, and each wait is at least half its
step, so ``max_attempts_within`` bounds how many sends a stretch of time allows). A ``Retry-After``
from the service lengthens the wait, never shortens it. An answer that refuses events (a 4xx other
than those worth retrying) is still an answer: the service is reachable, and the schedule resets.

The only way around the schedule is a flush request (``force_flush``, ``ccaudit spool drain``): it
grants one send at once.
"""

from __future__ import annotations

import random
import threading
import time

BASE = 0.1  # seconds: the first step


def step(failures: int, backoff_max: float, base: float = BASE) -> float:
    """The longest wait after ``failures`` failures in a row (the shortest is half of it)."""
    return min(backoff_max, base * 2.0 ** min(max(failures - 1, 0), 32))


def max_attempts_within(seconds: float, backoff_max: float, base: float = BASE) -> int:
    """The most sends the schedule allows in ``seconds`` against a service that never answers, for one
    destination: the first, then one after each shortest possible wait that still fits."""
    attempts, spent = 1, 0.0
    while True:
        spent += step(attempts, backoff_max, base) / 2
        if spent > seconds:
            return attempts
        attempts += 1


class Destination:
    """The backoff state of one service URL. Thread-safe; after a fork the child makes a new one."""

    def __init__(self, backoff_max: float = 30.0, base: float = BASE, jitter: random.Random | None = None) -> None:
        self.backoff_max = backoff_max
        self.base = base
        self._jitter = jitter or random.Random()
        self._lock = threading.Lock()
        self.failures = 0  # in a row
        self._next = 0.0  # monotonic time of the next slot after a failure
        self._in_flight = 0
        self._forced = 0  # sends granted by flush requests, outside the schedule

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        """A wait drawn from the schedule after ``failures`` failures in a row, ``Retry-After`` honoured."""
        top = step(failures, self.backoff_max, self.base)
        wait = self._jitter.uniform(top / 2, top)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.backoff_max))
        return wait

    def force(self) -> None:
        """A flush request: allow one send now, whatever the schedule says (once, however many ask)."""
        with self._lock:
            if self.failures:
                self._forced = 1

    def wait_time(self) -> float:
        """Seconds until a send may start (0: now)."""
        with self._lock:
            return self._wait(time.monotonic())

    def _wait(self, now: float) -> float:
        if self.failures == 0 or self._forced:
            return 0.0
        if self._in_flight:
            return max(self._next - now, self.base)  # the probe's answer decides
        return max(0.0, self._next - now)

    def acquire(self) -> bool:
        """Take the right to send now; False when the schedule says wait (see ``wait_time``)."""
        with self._lock:
            if self._wait(time.monotonic()) > 0:
                return False
            if self.failures and self._forced:
                self._forced -= 1
            self._in_flight += 1
            return True

    def release(self) -> None:
        """Nothing was sent after all: give the permission back, the schedule unchanged."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    def succeeded(self) -> None:
        """The service answered (stored, or refused some events): the schedule starts again."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            self.failures = 0
            self._next = 0.0
            self._forced = 0

    def failed(self, retry_after: float | None = None) -> float:
        """The send failed in a way worth retrying; returns the wait before the next slot."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            self.failures += 1
            wait = self.delay(self.failures, retry_after)
            self._next = max(self._next, time.monotonic() + wait)
            return wait
