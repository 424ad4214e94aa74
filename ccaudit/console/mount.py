"""Serving the console beside the API in one app: every path under ``/console`` goes to the console's
own router, everything else to the app's.

A pure ASGI dispatcher rather than a ``Mount`` among the app's routes: the app's routes are its API,
which the OpenAPI document describes route by route; the console's HTML pages are not part of it.
Each console route is still held to the access table (``ccaudit.console.guard``), and the
authorization test walks them (``app.state.console_routes``). Every response under ``/console``
carries the console's security headers, the router's own 404 and 405 included.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse
from starlette.routing import Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ccaudit.console.pages import SECURITY_HEADERS

PREFIX = "/console"


class ConsoleDispatch:
    def __init__(self, app: ASGIApp, routes: list[Route]) -> None:
        self.app = app
        self.console = Router(routes=routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        try:
            await self.console(scope, receive, send_secured)
        except HTTPException as exc:
            # The router's 404 and 405 are raised for the app's exception handler, which sits inside
            # this dispatcher: they are answered here instead.
            answer = PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)
            await answer(scope, receive, send_secured)
