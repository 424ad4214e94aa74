"""A token bucket per ingest token: ``rate`` batches per second sustained, ``burst`` at once.

**Keyed on the credential itself.** A key is the SHA-256 of the credential with surrounding whitespace
removed, the form the token store verifies: ``Bearer`` followed by one space or by ten, or a tab after
the token, is one token and one bucket. (Keyed on the raw header, each spelling had a fresh bucket.)
Only digests are kept, so the limiter's memory holds no secret.

**Bounded memory without forgetting anyone active.** At most ``max_keys`` buckets are kept, in order
of last use. A bucket idle long enough to have refilled is dropped first: a full bucket and no bucket
mean the same, so dropping it forgives nothing. When every kept bucket is still refilling, a new key
is refused as over its rate, for as long as the least recently used bucket needs to refill, instead
of clearing the table (which let every limited token through again). Ingest calls the limiter after a
token is verified, so only real tokens reach it and the cap is a second line of defence.

Per service replica (state in memory): behind a load balancer with N replicas a platform may send up
to N times the rate, which is the usual trade-off for a limit that needs no shared state.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable


def credential_key(credential: str) -> bytes:
    """The bucket's key for ``credential``: one per token, however the header spaced it."""
    return hashlib.sha256(credential.strip().encode("utf-8", "surrogatepass")).digest()


class RateLimiter:
    def __init__(
        self, rate: float, burst: int, max_keys: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._max_keys = max_keys
        self._clock = clock
        # key → (tokens, last refill), least recently used first
        self._buckets: OrderedDict[bytes, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._buckets)

    def acquire(self, credential: str) -> float:
        """0.0 if ``credential`` may proceed now; otherwise the seconds until it may."""
        key = credential_key(credential)
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                wait = self._make_room(now)
                if wait > 0:
                    return wait
                tokens = self.burst
            else:
                tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
                self._buckets.move_to_end(key)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def _make_room(self, now: float) -> float:
        """Drop refilled buckets, least recently used first, until a new one fits: 0.0; or, at the cap
        with no refilled bucket, the seconds until the least recently used one will have refilled."""
        while len(self._buckets) >= self._max_keys:
            key, (tokens, last) = next(iter(self._buckets.items()))
            refilled_in = (self.burst - tokens) / self.rate - (now - last)
            if refilled_in > 0:
                return refilled_in
            del self._buckets[key]
        return 0.0
