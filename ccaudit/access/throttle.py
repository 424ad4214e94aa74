"""Login throttling: after a few failed passwords, per account and per client address, wait.

In memory, per service replica: behind N replicas an attacker gets N times the tries, still a
handful per quarter hour. Bounded: past ``max_keys`` the oldest keys are forgotten first.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict


class LoginThrottle:
    def __init__(self, failures: int = 5, window: float = 900.0, max_keys: int = 100_000) -> None:
        self.failures = failures
        self.window = window
        self._max_keys = max_keys
        self._seen: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def blocked(self, *keys: str) -> bool:
        """Whether any of ``keys`` (an account, an address) has failed too often lately."""
        now = time.monotonic()
        with self._lock:
            return any(len(self._recent(key, now)) >= self.failures for key in keys)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                recent = self._recent(key, now)
                recent.append(now)
                self._seen[key] = recent
                self._seen.move_to_end(key)
            while len(self._seen) > self._max_keys:
                self._seen.popitem(last=False)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._seen.pop(key, None)

    def _recent(self, key: str, now: float) -> list[float]:
        return [t for t in self._seen.get(key, []) if now - t < self.window]
