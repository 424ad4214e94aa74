"""Access to the read API (until roles arrive, one configured admin token)."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse

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
