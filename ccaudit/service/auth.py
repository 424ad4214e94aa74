"""Access to the read API (until roles arrive, one configured admin token) and its shared answers."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse

from ccaudit.errors import StoreError, StoreUnavailable
from ccaudit.settings import Settings


def admin_authorised(request: Request, settings: Settings) -> bool:
    """True when the request carries the configured admin token (compared in constant time)."""
    if settings.admin_token is None:
        return False
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    expected = settings.admin_token.get_secret_value().encode()
    return hmac.compare_digest(token.strip().encode(), expected)


def unauthorised() -> JSONResponse:
    return JSONResponse(
        {"error": "an admin token is required (Authorization: Bearer <token>)"},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def store_failure(exc: StoreError) -> JSONResponse:
    """The answer when the store fails: 503 with Retry-After if it is unreachable, else 500."""
    if isinstance(exc, StoreUnavailable):
        return JSONResponse({"error": f"store unavailable: {exc}"}, status_code=503, headers={"Retry-After": "5"})
    return JSONResponse({"error": f"store error: {exc}"}, status_code=500)
