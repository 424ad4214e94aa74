"""Serving the console beside the API in one app: every path under ``/console`` goes to the console's
own router, everything else to the app's.

A pure ASGI dispatcher rather than a ``Mount`` among the app's routes: the app's routes are its API,
which the OpenAPI document describes route by route; the console's HTML pages are not part of it.
Each console route is still held to the access table (``ccaudit.console.guard``), and the
authorization test walks them (``app.state.console_routes``).
"""

from __future__ import annotations

from starlette.routing import Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

PREFIX = "/console"


class ConsoleDispatch:
    def __init__(self, app: ASGIApp, routes: list[Route]) -> None:
        self.app = app
        self.console = Router(routes=routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.console(scope, receive, send)
        else:
            await self.app(scope, receive, send)
