"""Every route is held to the access table (``ccaudit.access.roles.ROUTES``) here, in one place.

``protect`` wraps a route's endpoint: no credential or an unknown one is 401, a principal without the
route's permission is 403, and the endpoint runs with ``request.state.principal`` set, from which the
query layer takes its mandatory bounds. A route that is not in the table cannot be built.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ccaudit.access import Authenticator, Principal
from ccaudit.access.roles import INGEST, PUBLIC, Permission, rule_for
from ccaudit.errors import StoreError
from ccaudit.service.answers import Endpoint, error, store_failure


def unauthorised() -> JSONResponse:
    return JSONResponse(
        {"error": "a credential is required (Authorization: Bearer <personal or read token>)"},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def protect(route: Route, authenticator: Authenticator) -> Route:
    """``route`` with its endpoint held to the table; raises LookupError for a route not in it."""
    methods = sorted((route.methods or set()) - {"HEAD"})
    rules = {rule_for(method, route.path) for method in methods}
    if None in rules or len(rules) != 1:
        raise LookupError(f"{methods} {route.path} is not in the access table (ccaudit.access.roles.ROUTES)")
    rule = rules.pop()
    assert rule is not None
    if rule.permission in (PUBLIC, INGEST):
        return route
    permission = Permission(rule.permission)
    endpoint: Endpoint = route.endpoint

    async def guard(request: Request) -> Response:
        try:
            client = request.client.host if request.client else ""
            principal = await run_in_threadpool(authenticator.principal, request.headers.get("authorization"), client)
        except StoreError as exc:
            return store_failure(exc)
        if principal is None:
            return unauthorised()
        if not principal.may(permission):
            return error(403, f"this credential may not {rule.summary} (needs {permission.value})")
        request.state.principal = principal
        return await endpoint(request)

    return Route(route.path, guard, methods=methods, name=route.name)


def principal(request: Request) -> Principal:
    """The principal ``protect`` found for this request."""
    found: Principal = request.state.principal
    return found
