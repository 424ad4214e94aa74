"""``/v1/admin/tokens``: make, rotate, revoke and list platform ingest tokens (operators, and the bootstrap credential).

The CLI (``ccaudit tokens ...``) uses these while a service holds the embedded store. A body is a
JSON object of at most 16 KiB (``{"platform": "<name>"}``): 400 naming the problem otherwise, 413 past
the size. 503 with ``Retry-After`` when the store fails.
"""

from __future__ import annotations

from datetime import timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ccaudit.service.answers import error, guarded
from ccaudit.service.bodies import BodyTooLarge, json_object
from ccaudit.service.params import BadParameter
from ccaudit.settings import Settings
from ccaudit.store.tokens import InvalidPlatform, TokenStore


async def _platform(request: Request) -> str:
    platform = (await json_object(request)).get("platform")
    if not isinstance(platform, str):
        raise BadParameter("platform", 'expected {"platform": "<name>"}')
    return platform


def token_routes(settings: Settings, tokens: TokenStore) -> list[Route]:
    grace = timedelta(seconds=settings.token_grace_seconds)

    @guarded
    async def create_or_rotate(request: Request) -> Response:
        try:
            platform = await _platform(request)
        except BodyTooLarge as exc:
            return error(413, str(exc))
        rotate = request.url.path.endswith("/rotate")
        try:
            if rotate:
                token, info = await run_in_threadpool(tokens.rotate, platform, grace)
            else:
                token, info = await run_in_threadpool(tokens.create, platform)
        except InvalidPlatform as exc:
            return error(400, str(exc))
        return JSONResponse({"token": token, **info.as_dict()}, status_code=201)

    @guarded
    async def listing(request: Request) -> Response:
        found = await run_in_threadpool(tokens.list_tokens, request.query_params.get("platform"))
        return JSONResponse({"tokens": [t.as_dict() for t in found]})

    @guarded
    async def revoke(request: Request) -> Response:
        info = await run_in_threadpool(tokens.revoke, request.path_params["token_id"])
        if info is None:
            return error(404, "no such token")
        return JSONResponse(info.as_dict())

    return [
        Route("/v1/admin/tokens", create_or_rotate, methods=["POST"]),
        Route("/v1/admin/tokens/rotate", create_or_rotate, methods=["POST"]),
        Route("/v1/admin/tokens", listing, methods=["GET"]),
        Route("/v1/admin/tokens/{token_id}", revoke, methods=["DELETE"]),
    ]
