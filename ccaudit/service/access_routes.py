"""Accounts and API tokens over the API.

- ``/v1/admin/accounts`` (``accounts:admin``: operators and the bootstrap credential): list, make
  (``{"username", "role", "organisations": [...], "password"}``), disable (``DELETE .../{account_id}``).
- ``/v1/admin/read-tokens`` (``tokens:admin``): make a platform read token
  (``{"platform", "scopes": [...], "days"}``).
- ``/v1/me/tokens`` (``own-tokens``: any account): list, make (``{"scopes": [...], "days"}``; scopes
  default to the role's, and can only narrow it) and revoke one's own personal API tokens.

Bodies are JSON objects of at most 16 KiB; a bad field is a 400 naming it. Tokens are shown once.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ccaudit.access import AccountError, AccountStore, ApiTokenStore, TokenError
from ccaudit.access.api_tokens import parse_scopes
from ccaudit.service.answers import error, guarded
from ccaudit.service.auth import principal
from ccaudit.service.bodies import BodyTooLarge, json_object
from ccaudit.service.params import BadParameter
from ccaudit.store.tokens import InvalidPlatform


def _strings(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadParameter(name, "expected a list of strings")
    return value


def _string(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise BadParameter(name, "expected a string")
    return value


def _days(body: dict[str, Any], default: int) -> int:
    days = body.get("days", default)
    if not isinstance(days, int) or isinstance(days, bool):
        raise BadParameter("days", "expected a whole number of days")
    return days


async def _body(request: Request) -> dict[str, Any] | Response:
    try:
        return await json_object(request)
    except BodyTooLarge as exc:
        return error(413, str(exc))


def access_routes(accounts: AccountStore, tokens: ApiTokenStore) -> list[Route]:
    @guarded
    async def list_accounts(request: Request) -> Response:
        found = await run_in_threadpool(accounts.list_accounts)
        return JSONResponse({"accounts": [a.as_dict() for a in found]})

    @guarded
    async def create_account(request: Request) -> Response:
        body = await _body(request)
        if isinstance(body, Response):
            return body
        username, role, password = (_string(body, name) for name in ("username", "role", "password"))
        try:
            account = await run_in_threadpool(
                accounts.create, username, role, _strings(body, "organisations"), password
            )
        except AccountError as exc:
            return error(400, str(exc))
        return JSONResponse(account.as_dict(), status_code=201)

    @guarded
    async def disable_account(request: Request) -> Response:
        account = await run_in_threadpool(accounts.disable, request.path_params["account_id"])
        if account is None:
            return error(404, "no such account")
        return JSONResponse(account.as_dict())

    @guarded
    async def create_read_token(request: Request) -> Response:
        body = await _body(request)
        if isinstance(body, Response):
            return body
        try:
            token, info = await run_in_threadpool(
                tokens.create_platform_read, _string(body, "platform"), _strings(body, "scopes"), _days(body, 365)
            )
        except (TokenError, InvalidPlatform) as exc:
            return error(400, str(exc))
        return JSONResponse({"token": token, **info.as_dict()}, status_code=201)

    @guarded
    async def my_tokens(request: Request) -> Response:
        found = await run_in_threadpool(tokens.list_tokens, principal(request).subject)
        return JSONResponse({"tokens": [t.as_dict() for t in found]})

    @guarded
    async def create_my_token(request: Request) -> Response:
        who = principal(request)
        body = await _body(request)
        if isinstance(body, Response):
            return body
        try:
            scopes = parse_scopes(_strings(body, "scopes"), who.permissions) if "scopes" in body else who.permissions
            token, info = await run_in_threadpool(tokens.create_personal, who.subject, scopes, _days(body, 90))
        except TokenError as exc:
            return error(400, str(exc))
        return JSONResponse({"token": token, **info.as_dict()}, status_code=201)

    @guarded
    async def revoke_my_token(request: Request) -> Response:
        who = principal(request)
        info = await run_in_threadpool(tokens.revoke, request.path_params["token_id"], who.subject)
        if info is None:
            return error(404, "no such token of yours")
        return JSONResponse(info.as_dict())

    return [
        Route("/v1/admin/accounts", list_accounts, methods=["GET"]),
        Route("/v1/admin/accounts", create_account, methods=["POST"]),
        Route("/v1/admin/accounts/{account_id}", disable_account, methods=["DELETE"]),
        Route("/v1/admin/read-tokens", create_read_token, methods=["POST"]),
        Route("/v1/me/tokens", my_tokens, methods=["GET"]),
        Route("/v1/me/tokens", create_my_token, methods=["POST"]),
        Route("/v1/me/tokens/{token_id}", revoke_my_token, methods=["DELETE"]),
    ]
