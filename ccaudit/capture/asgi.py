"""Pure ASGI capture middleware (no BaseHTTPMiddleware: it breaks contextvars and costs a task).

Per request: classify from method and path, put a ``RequestContext`` in a context variable, wrap
``send`` to see the status and the end of the body, and after the response hand the facts to the
core. Errors inside capture are counted, never raised into the app. The recorder is shut down
(bounded) when the server's lifespan ends.

Its one I/O (this replaces the design's earlier "the request path never does I/O"): when the
response of a request with audit events or consent receipts starts, they are written to the local
spool's journal before the start is passed on (``CaptureCore.keep_now``), on the event loop's
thread: a line copied into the journal's memory mapping costs less than a hand-over to a worker
thread and back. What waits for the disk (strict routes, ``CCAUDIT_DURABILITY=power``) runs in a
worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from functools import partial
from typing import Any

from ccaudit.capture.context import _current
from ccaudit.capture.core import CaptureCore, RequestFacts, RequestState
from ccaudit.capture.identity import Resolver
from ccaudit.capture.platform_routes import PlatformRoutes
from ccaudit.settings import Settings, load_settings
from ccaudit.shipping.recorder import Recorder, build_recorder

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("ccaudit.capture")


def _route_template(scope: Scope, root_path: str) -> str:
    """The matched route's template where the router left one in the scope (Starlette, FastAPI)."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if isinstance(template, str) and template:
        # Starlette extends root_path by each Mount's matched prefix.
        mounted = str(scope.get("root_path", ""))[len(root_path) :]
        return mounted + template
    return ""


def _cookie_header(scope: Scope) -> str | None:
    """The Cookie header alone, for ruling out a page view before reading the rest."""
    cookies = [value for name, value in scope.get("headers") or () if name == b"cookie"]
    return b"; ".join(cookies).decode("latin-1") if cookies else None  # HTTP/2 may split it


def _facts(scope: Scope, header_name: bytes, root_path: str) -> RequestFacts:
    # One pass over the headers into locals (no dict, no decoding of headers we do not keep): this
    # runs for every page view and every audited request.
    user_agent = request_id = gpc = dnt = referer = host = b""
    forwarded: list[bytes] = []
    cookies: list[bytes] = []
    for name, value in scope.get("headers") or ():
        if name == b"cookie":
            cookies.append(value)  # HTTP/2 may split cookies over several headers
        elif name == b"user-agent":
            user_agent = value
        elif name == b"referer":
            referer = value
        elif name == b"host":
            host = value
        elif name == header_name:
            forwarded.append(value)
        elif name == b"x-request-id":
            request_id = value
        elif name == b"sec-gpc":
            gpc = value
        elif name == b"dnt":
            dnt = value
    client = scope.get("client")
    return RequestFacts(
        _route_template(scope, root_path),
        user_agent.decode("latin-1"),
        b",".join(forwarded).decode("latin-1") if forwarded else None,
        request_id.decode("latin-1"),
        str(client[0]) if client else "",
        b"; ".join(cookies).decode("latin-1") if cookies else None,
        gpc.decode("latin-1") if gpc else None,
        dnt.decode("latin-1") if dnt else None,
        referer.decode("latin-1") if referer else None,
        host.decode("latin-1") if host else None,
    )


def _is_html(headers: Any) -> bool:
    for name, value in headers or ():
        if name.lower() == b"content-type":
            return bool(value[:9].lower() == b"text/html")
    return False


class CaptureMiddleware:
    """ASGI middleware that records audit events for the wrapped app.

    ``settings`` defaults to the environment; ``recorder`` defaults to one built from the settings
    (one per middleware instance, so one per process); ``resolver`` finds the actor on the scope.
    """

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings | None = None,
        *,
        resolver: Resolver | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self.app = app
        self.settings = settings or load_settings()
        self.recorder = recorder or build_recorder(self.settings)
        self.core = CaptureCore(self.settings, self.recorder, resolver)
        self._header = self.core.ip.header_name
        self.platform_routes = PlatformRoutes(self.settings, self.recorder, resolver)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"].startswith(self.platform_routes.paths):  # banner, receipts, gpc.json: ours, not the app's
            await self.platform_routes.asgi(scope, receive, send)
            return
        core = self.core
        try:
            state = core.begin(scope["method"], scope["path"])
        except Exception:
            core.errors += 1
            log.exception("ccaudit: could not classify request")
            await self.app(scope, receive, send)
            return
        root_path = str(scope.get("root_path", ""))
        if state.fail_closed and not core.may_proceed(state):  # no I/O: the spool's room is counted in memory
            # Like Vault: an operation that cannot be audited does not run.
            await self._refuse(state, send)
            self._finish(state, scope, root_path)
            return
        refused = False

        async def send_wrapper(message: Message) -> None:
            nonlocal refused
            if refused:
                return  # the app's own response was replaced by a 503
            kind = message["type"]
            if kind == "http.response.start":
                state.status = message["status"]
                state.response_started = True
                if state.method == "GET":
                    state.html = _is_html(message.get("headers"))
                if core.keeps(state):
                    ok = core.keep_now(state, _facts(scope, self._header, root_path), scope)
                    if ok and core.must_sync(state):
                        ok = await asyncio.to_thread(core.sync_now, state)
                    if not ok:
                        refused = True
                        await self._refuse(state, send)
                        return
            elif kind == "http.response.body" and not message.get("more_body", False):
                state.ended = time.perf_counter()
            try:
                await send(message)
            except OSError:
                state.aborted = True  # the client went away while we were answering
                raise

        async def receive_wrapper() -> Message:
            message = await receive()
            if message["type"] == "http.disconnect" and not state.ended:
                state.aborted = True
            return message

        token = _current.set(state)
        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        except asyncio.CancelledError:
            state.aborted = True
            raise
        except BaseException:
            state.error = True
            raise
        finally:
            _current.reset(token)
            self._finish(state, scope, root_path)

    @staticmethod
    async def _refuse(state: RequestState, send: Send) -> None:
        """Answer 503: the audit event of this operation could not be kept durably."""
        state.status = 503
        state.response_started = True
        body = b'{"error":"the operation cannot be audited right now; try again later"}'
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [(b"content-type", b"application/json"), (b"retry-after", b"5")],
            }
        )
        await send({"type": "http.response.body", "body": body})
        state.ended = time.perf_counter()

    def _finish(self, state: RequestState, scope: Scope, root_path: str) -> None:
        self.core.complete(state, lambda: _facts(scope, self._header, root_path), scope, partial(_cookie_header, scope))

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        recorder = self.recorder
        timeout = self.settings.shutdown_timeout

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                # Bounded; in a thread so other tasks of the loop keep running meanwhile.
                await asyncio.to_thread(recorder.shutdown, timeout)
            await send(message)

        await self.app(scope, receive, send_wrapper)
