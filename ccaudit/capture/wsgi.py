"""Plain WSGI capture middleware, on the same core as the ASGI one.

Per request: classify from method and path, put the request's state in the context variable while the
app runs, wrap ``start_response`` to see the status, and wrap the returned iterable so the request
ends when the server calls ``close()`` (WSGI's end of the response). Errors inside capture are
counted, never raised into the app.

Its one I/O (this replaces the design's earlier "the request path never does I/O"): when the app
calls ``start_response`` for a request with audit events or consent receipts, they are written to
the local spool's journal before the server is told (``CaptureCore.keep_now``): one line copied into
the journal's memory mapping, shared with the process's other threads writing at the same moment.
Strict routes and ``CCAUDIT_DURABILITY=power`` also wait for the disk there.

How a request ended:
- the app raised before answering: outcome error, status 500, and the exception is re-raised;
- the iterable raised while producing the body: outcome error, re-raised;
- the server closed the iterable before it was exhausted, or writing to the client failed with a
  connection error: the client went away, outcome aborted (status 499).

Framework glue (Flask, Django) passes what only the framework knows through the environ: the route
template under ``ROUTE_KEY`` (or a ``route`` function that finds it there) and the actor under
``IDENTITY_KEY``. Without glue the route is the raw path (``SCRIPT_NAME`` + ``PATH_INFO``) and the
actor comes from the ``resolver``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from functools import partial
from types import TracebackType
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from ccaudit.capture.context import _current
from ccaudit.capture.core import CaptureCore, RequestFacts, RequestState
from ccaudit.capture.identity import Identity, Resolver
from ccaudit.capture.platform_routes import PlatformRoutes
from ccaudit.settings import Settings, load_settings
from ccaudit.shipping.recorder import Recorder, build_recorder

# The standard library's WSGI types (PEP 3333), as Flask and Werkzeug use them.
Environ = WSGIEnvironment


ROUTE_KEY = "ccaudit.route"
IDENTITY_KEY = "ccaudit.identity"

ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]

log = logging.getLogger("ccaudit.capture")


def environ_header_key(header_name: bytes) -> str:
    """The environ key of a lower-case request header name: ``x-forwarded-for`` → ``HTTP_X_FORWARDED_FOR``."""
    return "HTTP_" + header_name.decode("latin-1").upper().replace("-", "_")


def raw_path(environ: Environ) -> str:
    """The request path as the client sent it, mount point included."""
    return str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))


def environ_route(environ: Environ) -> str:
    """The route template framework glue left under ROUTE_KEY; '' for none (the core then uses the path)."""
    return str(environ.get(ROUTE_KEY) or "")


def _text(value: object) -> str | None:
    # PEP 3333 says header values are str; a server or test that breaks that must not break capture.
    return value if value is None or isinstance(value, str) else str(value)


_PLAIN_VALUES = frozenset({str, type(None)})


def environ_facts(environ: Environ, header_key: str, route: Callable[[Environ], str] = environ_route) -> RequestFacts:
    """The request details the core records, read from a WSGI environ (header values are latin-1 text)."""
    get = environ.get
    # Positional, and one check of all the values' types at the end: this runs for every page view
    # and every audited request, and a call per value cost more than the lookups themselves.
    facts = RequestFacts(
        route(environ),
        get("HTTP_USER_AGENT") or "",
        get(header_key),
        get("HTTP_X_REQUEST_ID") or "",
        get("REMOTE_ADDR") or "",
        get("HTTP_COOKIE"),
        get("HTTP_SEC_GPC"),
        get("HTTP_DNT"),
        get("HTTP_REFERER"),
        get("HTTP_HOST"),
    )
    if {value.__class__ for value in facts} <= _PLAIN_VALUES:
        return facts
    return RequestFacts._make(_text(value) for value in facts)


def is_html(headers: list[tuple[str, str]]) -> bool:
    """Whether response headers declare an HTML body."""
    for name, value in headers:
        if name.lower() == "content-type":
            return value[:9].lower() == "text/html"
    return False


def environ_identity(environ: MutableMapping[str, Any]) -> Identity | None:
    """Resolver for framework glue: the identity the glue left in the environ during the request."""
    identity = environ.get(IDENTITY_KEY)
    return identity if isinstance(identity, Identity) else None


def note_identity(core: CaptureCore, lookup: Callable[[], Identity | None], environ: MutableMapping[str, Any]) -> None:
    """Framework glue, during the request: leave the actor ``lookup`` finds under IDENTITY_KEY, where
    ``environ_identity`` reads it after the response. A failing lookup is counted, never raised."""
    try:
        found = lookup()
    except Exception:  # a failing lookup must not break the request
        core.errors += 1
        log.exception("ccaudit: identity lookup failed")
        return
    if found is not None:
        environ[IDENTITY_KEY] = found


def _status_code(status: str) -> int:
    try:
        return int(status[:3])
    except (TypeError, ValueError):
        return 0


_REFUSED_STATUS = "503 Service Unavailable"
_REFUSED_HEADERS = (("Content-Type", "application/json"), ("Retry-After", "5"))
_REFUSED_BODY = b'{"error":"the operation cannot be audited right now; try again later"}'


class _Refusal:
    __slots__ = ("refused",)

    def __init__(self) -> None:
        self.refused = False


class _Refusable:
    """A strict route's body: replaced by the 503 body once its audit event could not be kept.

    The app may call start_response before returning (the refusal is known before the first chunk)
    or lazily, on its first chunk (then that chunk is discarded).
    """

    def __init__(self, inner: Iterable[bytes], refusal: _Refusal) -> None:
        self._inner = inner
        self._refusal = refusal

    def __iter__(self) -> Iterator[bytes]:
        if not self._refusal.refused:
            for chunk in self._inner:
                if self._refusal.refused:
                    break
                yield chunk
        if self._refusal.refused:
            yield _REFUSED_BODY

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


class ResponseBody:
    """A response iterable, wrapped: sees the end of the body and ends the request exactly once.

    ``on_end(state, environ)`` runs when the server calls ``close()`` or the body raises. Framework
    glue wraps streamed bodies with it too.
    """

    __slots__ = ("_done", "_environ", "_exhausted", "_inner", "_iter", "_on_end", "_state")

    def __init__(
        self,
        state: RequestState,
        environ: Environ,
        inner: Iterable[bytes],
        on_end: Callable[[RequestState, Environ], None],
    ) -> None:
        self._state = state
        self._environ = environ
        self._inner = inner
        self._on_end = on_end
        self._iter: Iterator[bytes] | None = None
        self._done = False
        self._exhausted = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._iter is None:
            self._iter = iter(self._inner)
        # Streamed bodies run app code while the server iterates: the context API must work there too.
        token = _current.set(self._state)
        try:
            return next(self._iter)
        except StopIteration:
            self._exhausted = True
            raise
        except ConnectionError:
            self._state.aborted = True  # writing to the client failed inside the body: it went away
            self._end()
            raise
        except BaseException:
            self._state.error = True
            self._end()
            raise
        finally:
            _current.reset(token)

    def close(self) -> None:
        try:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
        finally:
            if self._exhausted:
                self._state.ended = time.perf_counter()
            self._end()

    def _end(self) -> None:
        if not self._done:
            self._done = True
            self._on_end(self._state, self._environ)


class WsgiCaptureMiddleware:
    """WSGI middleware that records audit events for the wrapped app.

    ``settings`` defaults to the environment; ``recorder`` defaults to one built from the settings
    (one per middleware instance, so one per process; after a fork each child rebuilds its own);
    ``resolver`` finds the actor on the environ, after the app has answered. Without a resolver the
    identity framework glue left in the environ (``IDENTITY_KEY``) is used. ``route`` finds the route
    template of a recorded request in the environ, after the response (framework glue).
    """

    def __init__(
        self,
        app: WSGIApplication,
        settings: Settings | None = None,
        *,
        resolver: Resolver | None = None,
        recorder: Recorder | None = None,
        route: Callable[[Environ], str] = environ_route,
    ) -> None:
        self.app = app
        self._route = route
        self.settings = settings or load_settings()
        self.recorder = recorder or build_recorder(self.settings)
        self.core = CaptureCore(self.settings, self.recorder, resolver or environ_identity)
        self._header_key = environ_header_key(self.core.ip.header_name)
        self.platform_routes = PlatformRoutes(self.settings, self.recorder, resolver or environ_identity)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = raw_path(environ)
        if path.startswith(self.platform_routes.paths):  # banner, receipts, gpc.json: ours
            return self.platform_routes.wsgi(environ, start_response)
        core = self.core
        try:
            state = core.begin(str(environ.get("REQUEST_METHOD", "")), path)
        except Exception:
            core.errors += 1
            log.exception("ccaudit: could not classify request")
            return self.app(environ, start_response)

        if state.fail_closed and not core.may_proceed(state):
            # Like Vault: an operation that cannot be audited does not run.
            state.status, state.response_started = 503, True
            start_response(_REFUSED_STATUS, list(_REFUSED_HEADERS))
            return ResponseBody(state, environ, [_REFUSED_BODY], self._finish)
        refusal = _Refusal()

        def capture_start(
            status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None, /
        ) -> Callable[[bytes], object]:
            state.status = _status_code(status)
            state.response_started = True
            if state.method == "GET":
                state.html = is_html(headers)
            if core.keeps(state) and not (
                core.keep_now(state, self._facts(environ), environ)
                and (not core.must_sync(state) or core.sync_now(state))
            ):
                refusal.refused = True
                state.status = 503
                status, headers = _REFUSED_STATUS, list(_REFUSED_HEADERS)
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        token = _current.set(state)
        try:
            result = self.app(environ, capture_start)
        except BaseException:
            state.error = True
            self._finish(state, environ)
            raise
        finally:
            _current.reset(token)
        if state.strict:
            result = _Refusable(result, refusal)
        return ResponseBody(state, environ, result, self._finish)

    def _facts(self, environ: Environ) -> RequestFacts:
        return environ_facts(environ, self._header_key, self._route)

    def _finish(self, state: RequestState, environ: Environ) -> None:
        self.core.complete(state, lambda: self._facts(environ), environ, partial(environ.get, "HTTP_COOKIE"))
