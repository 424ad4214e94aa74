"""How the recorder delivers a batch: to the service over HTTP, or to an in-process ingest function.

A transport's ``send`` returns when the batch is stored, or raises ``DeliveryError`` saying whether
a retry may succeed. The HTTP transport uses only the standard library, so a platform's worker needs
no HTTP client dependency, and it never goes through a proxy from the environment: the service is
internal to the deployment (R8).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, Protocol

Batch = dict[str, Any]


class DeliveryError(Exception):
    """A batch was not delivered. ``retryable`` says whether sending it again may succeed."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class Transport(Protocol):
    def send(self, batch: Batch) -> None:
        """Deliver ``batch`` (the v1 wire format) or raise DeliveryError."""


class HttpTransport:
    """POSTs batches as JSON to the service's ``/v1/events``."""

    def __init__(self, service_url: str, *, timeout: float = 10.0, token: str | None = None) -> None:
        self.url = service_url.rstrip("/") + "/v1/events"
        self.timeout = timeout
        self._headers = {"Content-Type": "application/json", "User-Agent": "ccaudit-shipper/1"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def send(self, batch: Batch) -> None:
        body = json.dumps(batch, separators=(",", ":")).encode()
        request = urllib.request.Request(self.url, data=body, headers=self._headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:500].decode("utf-8", "replace")
            retry_after = _retry_after(exc.headers.get("Retry-After"))
            retryable = exc.code == 429 or exc.code >= 500
            raise DeliveryError(f"HTTP {exc.code}: {detail}", retryable=retryable, retry_after=retry_after) from None
        except (urllib.error.URLError, OSError) as exc:
            raise DeliveryError(f"cannot reach {self.url}: {exc}", retryable=True) from None


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class CallableTransport:
    """Hands batches to a function in this process (the in-process ingest)."""

    def __init__(self, deliver: Callable[[Batch], object]) -> None:
        self._deliver = deliver

    def send(self, batch: Batch) -> None:
        try:
            self._deliver(batch)
        except DeliveryError:
            raise
        except Exception as exc:
            raise DeliveryError(f"in-process ingest failed: {exc}", retryable=True) from exc
