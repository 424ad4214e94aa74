"""What the read and admin routes answer when something is wrong, and the guard that holds them to it.

- a parameter or body the route cannot take: 400, naming it (:class:`~ccaudit.service.params.BadParameter`);
- the store fails: 503 with ``Retry-After`` and a generic message. The driver's and the engine's text
  (``DB::Exception``, codes, host names, query fragments) goes to the service's log only: it describes
  the deployment, not the request, and a client can do nothing with it but learn the internals;
- anything else a route raises (a bug): logged with its traceback and answered like a store failure,
  so that no read answers uvicorn's bare 500.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from ccaudit.errors import StoreError, StoreUnavailable
from ccaudit.service.params import BadParameter

log = logging.getLogger("ccaudit.service")

Endpoint = Callable[[Request], Awaitable[Response]]

RETRY_AFTER = "5"


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def store_failure(exc: StoreError) -> JSONResponse:
    """503 with Retry-After; the store's own message is logged, never answered."""
    kind = "unreachable" if isinstance(exc, StoreUnavailable) else "failed"
    log.warning("store %s: %s", kind, exc, extra={"store_failure": kind})
    return error(503, "store unavailable: try again later", {"Retry-After": RETRY_AFTER})


def guarded(endpoint: Endpoint) -> Endpoint:
    """``endpoint``, answering 400 for a BadParameter, 503 for a store failure or any other exception."""

    @functools.wraps(endpoint)
    async def guard(request: Request) -> Response:
        try:
            return await endpoint(request)
        except BadParameter as exc:
            return error(400, str(exc))
        except ClientDisconnect:
            return error(400, "client disconnected")  # nobody reads it; the log line stays quiet
        except StoreError as exc:
            return store_failure(exc)
        except Exception:
            log.exception("unexpected error in %s %s", request.method, request.url.path)
            return error(503, "the service could not answer: try again later", {"Retry-After": RETRY_AFTER})

    return guard
