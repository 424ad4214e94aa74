"""``/v1/admin/tokens``: make, rotate, revoke and list platform ingest tokens (admin token).

The CLI (``ccaudit tokens ...``) uses these while a service holds the embedded store.
"""

from __future__ import annotations

import json
from datetime import timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ccaudit.errors import StoreError
from ccaudit.service.auth import admin_authorised, store_failure, unauthorised
from ccaudit.settings import Settings
from ccaudit.store.tokens import InvalidPlatform, TokenStore


async def _platform(request: Request) -> str | None:
    try:
        data = json.loads(await request.body())
    except ValueError:
        return None
    platform = data.get("platform") if isinstance(data, dict) else None
    return platform if isinstance(platform, str) else None


def token_routes(settings: Settings, tokens: TokenStore) -> list[Route]:
    grace = timedelta(seconds=settings.token_grace_seconds)

    async def create_or_rotate(request: Request) -> JSONResponse:
        if not admin_authorised(request, settings):
            return unauthorised()
        platform = await _platform(request)
        if platform is None:
            return JSONResponse({"error": 'platform: expected {"platform": "<name>"}'}, status_code=400)
        rotate = request.url.path.endswith("/rotate")
        try:
            if rotate:
                token, info = await run_in_threadpool(tokens.rotate, platform, grace)
            else:
                token, info = await run_in_threadpool(tokens.create, platform)
        except InvalidPlatform as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except StoreError as exc:
            return store_failure(exc)
        return JSONResponse({"token": token, **info.as_dict()}, status_code=201)

    async def listing(request: Request) -> JSONResponse:
        if not admin_authorised(request, settings):
            return unauthorised()
        try:
            found = await run_in_threadpool(tokens.list_tokens, request.query_params.get("platform"))
        except StoreError as exc:
            return store_failure(exc)
        return JSONResponse({"tokens": [t.as_dict() for t in found]})

    async def revoke(request: Request) -> JSONResponse:
        if not admin_authorised(request, settings):
            return unauthorised()
        try:
            info = await run_in_threadpool(tokens.revoke, request.path_params["token_id"])
        except StoreError as exc:
            return store_failure(exc)
        if info is None:
            return JSONResponse({"error": "no such token"}, status_code=404)
        return JSONResponse(info.as_dict())

    return [
        Route("/v1/admin/tokens", create_or_rotate, methods=["POST"]),
        Route("/v1/admin/tokens/rotate", create_or_rotate, methods=["POST"]),
        Route("/v1/admin/tokens", listing, methods=["GET"]),
        Route("/v1/admin/tokens/{token_id}", revoke, methods=["DELETE"]),
    ]
