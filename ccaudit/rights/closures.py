"""Closure at once: an account a platform closed or deactivated is erased when its closure is stored.

The privacy statement (§6) says an account's data is erased or anonymised as soon as the account is
closed or deactivated; the register may set a grace per stream (``closure_grace_days``, 0 by
default). Ingest tells this worker the accounts of every stored ``account.closed`` or
``account.deactivated`` event (``Ingestor.on_closed``); the worker runs the retention job for just
those accounts (``retention.run(only=...)``), so every stream without grace is erased or
pseudonymised at once, and recorded as an audit event (``retention.erase``, subject
``retention:closure``, naming no account). Streams with a grace wait for the scheduled run, which
also catches any closure this worker did not finish (a crash, a restart): the closure is stored
before the worker hears of it.

The work runs on a thread of its own: an ingest answer never waits for an erasure.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from ccaudit.rights import retention
from ccaudit.settings import Settings
from ccaudit.store import Store

log = logging.getLogger("ccaudit.rights")

CLOSED_ACTIONS = frozenset({"account.closed", "account.deactivated"})
# Closures waiting beyond this are left to the scheduled run (they are stored, so none is lost).
MAX_PENDING = 10_000


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ClosureEraser:
    """A worker thread that erases closed accounts as ingest reports them."""

    def __init__(self, store: Store, settings: Settings, clock: Callable[[], datetime] = _utcnow) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        self._pending: set[tuple[str, str]] = set()
        self._busy = False
        self._stopping = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self.runs = 0
        self.dropped = 0

    def notice(self, platform: str, accounts: Iterable[str]) -> None:
        """Accounts of ``platform`` whose closure was just stored (ingest's callback; never blocks)."""
        with self._cond:
            for account in accounts:
                if len(self._pending) >= MAX_PENDING:
                    self.dropped += 1
                    continue
                self._pending.add((platform, account))
            self._cond.notify_all()

    def start(self) -> None:
        with self._cond:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._work, name="ccaudit-closures", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                batch, self._pending = self._pending, set()
                self._busy = True
            try:
                report = retention.run(self._store, self._settings, self._clock(), only=batch)
                log.info("closure erasure: %d accounts, %d rows", len(report.due), sum(report.tables.values()))
            except Exception:
                # The closures are stored: the scheduled run erases them when this failed.
                log.exception("closure erasure failed")
            finally:
                with self._cond:
                    self._busy = False
                    self.runs += 1
                    self._cond.notify_all()

    def force_flush(self, timeout: float) -> bool:
        """Wait until every closure noticed so far is done; False if ``timeout`` seconds pass first
        (or no worker runs)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._busy:
                left = deadline - time.monotonic()
                if left <= 0 or self._thread is None:
                    return False
                self._cond.wait(left)
        return True

    def shutdown(self, timeout: float) -> bool:
        """Stop the worker (an erasure under way finishes first, within ``timeout``); idempotent."""
        with self._cond:
            thread, self._thread = self._thread, None
            self._stopping = True
            self._cond.notify_all()
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()
