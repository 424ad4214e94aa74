"""How a batch reaches the service: over HTTP, or to an in-process ingest function.

A transport's ``send`` takes the batch as JSON bytes (the v1 wire format) and returns when the
service has stored it, or raises ``DeliveryError`` saying whether a retry may succeed, after how
long, and which events (by index) the service refused. The HTTP transport uses only the standard
library, so a platform's worker needs no HTTP client dependency; it gzips bodies, authenticates with
the platform's ingest token, and never goes through a proxy from the environment: the service is
internal to the deployment (R8).
"""

from __future__ import annotations

import gzip
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Protocol

from ccaudit.shipping.heads import SealHeads

log = logging.getLogger("ccaudit.shipping")

_GZIP_FROM = 1024  # bytes; smaller bodies are not worth compressing


class DeliveryError(Exception):
    """A batch was not stored.

    ``retryable``: sending it again may succeed (service down, 5xx, 429, auth to be fixed).
    ``retry_after``: seconds the service asked us to wait. ``problems``: ``(index, reason)`` of the
    events the service refused; the batch was refused whole, so the others may be sent again.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        problems: list[tuple[int, str]] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.problems = problems or []
        self.status = status


class Transport(Protocol):
    def send(self, payload: bytes) -> None:
        """Deliver one batch (JSON bytes) or raise DeliveryError."""


class HttpTransport:
    """POSTs batches to the service's ``/v1/events``."""

    def __init__(
        self, service_url: str, *, timeout: float = 10.0, token: str | None = None, heads: SealHeads | None = None
    ) -> None:
        self.url = service_url.rstrip("/") + "/v1/events"
        self.timeout = timeout
        # Where the seal heads of each answer are kept (ccaudit.shipping.heads); None: not kept.
        self.heads = heads
        self._headers = {"Content-Type": "application/json", "User-Agent": "ccaudit-shipper/1"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def send(self, payload: bytes) -> None:
        headers = dict(self._headers)
        if len(payload) >= _GZIP_FROM:
            payload = gzip.compress(payload, compresslevel=1)  # fast: most of the gain, little CPU
            headers["Content-Encoding"] = "gzip"
        request = urllib.request.Request(self.url, data=payload, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                answer = response.read()
        except urllib.error.HTTPError as exc:
            raise _refusal(exc.code, exc.read()[:65536], exc.headers.get("Retry-After")) from None
        except (urllib.error.URLError, OSError) as exc:
            raise DeliveryError(f"cannot reach {self.url}: {exc}", retryable=True) from None
        if self.heads is not None:
            self._keep_heads(answer)

    def _keep_heads(self, answer: bytes) -> None:
        """The batch is stored whatever happens here: a head that cannot be kept is logged, not raised."""
        assert self.heads is not None
        try:
            seals = json.loads(answer).get("seals", [])
            if isinstance(seals, list):
                self.heads.observe(seals)
        except (ValueError, AttributeError, OSError, KeyError, TypeError) as exc:
            log.warning("ccaudit: cannot keep the seal heads of an ingest answer in %s: %s", self.heads.path, exc)


# 401/403: the token is wrong or revoked; that is fixed by configuration, and the events are fine, so
# they wait (with backoff) rather than being dead-lettered. 408/425/429 and 5xx are transient.
_RETRYABLE_4XX = frozenset({401, 403, 408, 425, 429})


def _refusal(status: int, body: bytes, retry_after_header: str | None) -> DeliveryError:
    detail = body[:500].decode("utf-8", "replace")
    problems: list[tuple[int, str]] = []
    # 400 (invalid events) and 409 (events that would rewrite stored ones) name the events refused:
    # those are dead-lettered, the rest of the batch is sent again.
    if status in (400, 409):
        try:
            problems = [(int(p["index"]), str(p["reason"])) for p in json.loads(body).get("problems", [])]
        except (ValueError, TypeError, KeyError, AttributeError):
            problems = []
    return DeliveryError(
        f"HTTP {status}: {detail}",
        retryable=status >= 500 or status in _RETRYABLE_4XX,
        retry_after=_retry_after(retry_after_header),
        problems=problems,
        status=status,
    )


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class CallableTransport:
    """Hands batches to a function in this process (the in-process ingest)."""

    def __init__(self, deliver: Callable[[bytes], object]) -> None:
        self._deliver = deliver

    def send(self, payload: bytes) -> None:
        try:
            self._deliver(payload)
        except DeliveryError:
            raise
        except Exception as exc:
            raise DeliveryError(f"in-process ingest failed: {exc}", retryable=True) from exc
