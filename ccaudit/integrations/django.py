"""Django middleware: the one capture point to install under Django.

Put it in ``MIDDLEWARE`` right after ``django.contrib.auth.middleware.AuthenticationMiddleware``, so
``request.user`` is known. It records through the same core as the ASGI and WSGI middleware:

- the route template comes from Django's resolver (``request.resolver_match.route``, with
  ``<int:pk>`` written ``{pk}`` as in Starlette; the raw path for ``re_path`` routes and 404s);
- the actor from ``request.user``: ``get_username()`` (or the primary key) as the account, role
  ``admin`` for staff and superusers, ``user`` otherwise, organisation from ``CCAUDIT_ORGANISATION``;
- a view's exception is recorded as outcome error (Django turns it into a 500 response, or re-raises
  it with ``DEBUG_PROPAGATE_EXCEPTIONS``); a streamed response ends when the server closes it.

Django settings read once, when Django builds its middleware chain:

- ``CCAUDIT``: a dict of ccaudit settings, on top of the ``CCAUDIT_*`` environment
  (``load_settings(**CCAUDIT)``);
- ``CCAUDIT_ORGANISATION``: the organisation, as a string or a callable ``(request) -> str``;
- ``CCAUDIT_IDENTITY``: a callable ``(request) -> Identity | None``, or its dotted path, replacing the
  default actor lookup entirely.

If the WSGI application is also wrapped in ``WsgiCaptureMiddleware``, that outer middleware is the
capture point and this class only hands it the route template and the actor: a request is never
recorded twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from django.conf import settings as django_settings
from django.http import HttpRequest, HttpResponseBase
from django.utils.module_loading import import_string

from ccaudit.capture.context import _current, current_context
from ccaudit.capture.core import CaptureCore, RequestState
from ccaudit.capture.identity import Identity
from ccaudit.capture.platform_routes import MAX_RECEIPT_BYTES, WANTED_HEADERS, PlatformRoutes
from ccaudit.capture.rules import Kind
from ccaudit.capture.wsgi import (
    ROUTE_KEY,
    Environ,
    ResponseBody,
    environ_facts,
    environ_header_key,
    environ_identity,
    note_identity,
)
from ccaudit.integrations._routes import braces
from ccaudit.settings import load_settings
from ccaudit.shipping.recorder import build_recorder

log = logging.getLogger("ccaudit.capture")

IdentityLookup = Callable[[HttpRequest], Identity | None]
_REGEX_MARKS = ("^", "$", "(?", "\\")


def route_template(request: HttpRequest) -> str:
    """The matched route's template; '' where there is none (404, regex routes). Never the raw path:
    the core falls back to it for audit events only, and a page view must not record it."""
    match = request.resolver_match
    route = getattr(match, "route", None) if match is not None else None
    if not isinstance(route, str) or any(mark in route for mark in _REGEX_MARKS):
        return ""
    return braces(route)  # '' is the root's pattern: '/'


def user_identity(request: HttpRequest, organisation: str = "") -> Identity | None:
    """The default actor lookup: ``request.user`` as set by ``AuthenticationMiddleware``."""
    user: Any = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    get_username = getattr(user, "get_username", None)
    account = (get_username() if get_username is not None else "") or user.pk
    admin = bool(getattr(user, "is_staff", False) or getattr(user, "is_superuser", False))
    return Identity(
        account_id=str(account or ""),
        profile_id=str(getattr(user, "profile_id", "") or ""),
        organisation=organisation,
        role="admin" if admin else "user",
    )


def _identity_lookup() -> IdentityLookup:
    custom = getattr(django_settings, "CCAUDIT_IDENTITY", None)
    if isinstance(custom, str):
        custom = import_string(custom)
    if custom is not None:
        lookup: IdentityLookup = custom
        return lookup
    organisation = getattr(django_settings, "CCAUDIT_ORGANISATION", "")
    if callable(organisation):
        org_of: Callable[[HttpRequest], str] = organisation
        return lambda request: user_identity(request, str(org_of(request) or ""))
    fixed = str(organisation or "")
    return lambda request: user_identity(request, fixed)


class AuditMiddleware:
    """Django middleware recording audit events. See the module docstring for placement and settings.

    ``core`` is for tests and embedding: by default it is built from the Django settings, with a
    recorder of its own (Django builds its middleware chain once per process).
    """

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase], *, core: CaptureCore | None = None):
        self.get_response = get_response
        if core is None:
            settings = load_settings(**getattr(django_settings, "CCAUDIT", {}))
            core = CaptureCore(settings, build_recorder(settings), environ_identity)
        self.core = core
        self._identity = _identity_lookup()
        self._header_key = environ_header_key(core.ip.header_name)
        self.platform_routes = PlatformRoutes(core.settings, core.sink)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.path.startswith(self.platform_routes.paths):  # banner, receipts, gpc.json: ours
            return self._platform_route(request)
        outer = current_context()
        if isinstance(outer, RequestState):
            return self._glue_only(request, outer)
        core = self.core
        try:
            state = core.begin(request.method or "", request.path)
        except Exception:
            core.errors += 1
            log.exception("ccaudit: could not classify request")
            return self.get_response(request)
        if state.fail_closed and not core.may_proceed(state):
            state.status, state.response_started = 503, True
            state.ended = time.perf_counter()  # answered in full here: refused, not aborted
            self._complete(state, request.META)
            return _refused()  # like Vault: an operation that cannot be audited does not run
        if state.kind is Kind.LOGOUT:
            self._note_identity(request)  # after the view, the user is logged out
        token = _current.set(state)
        try:
            response = self.get_response(request)
        except BaseException:
            state.error = True
            self._note(request, state)
            self._complete(state, request.META)
            raise
        finally:
            _current.reset(token)
        state.status = response.status_code
        state.response_started = True
        if state.method == "GET":
            state.html = str(response.get("Content-Type", ""))[:9].lower() == "text/html"
        self._note(request, state)
        if core.keeps(state) and not (
            core.keep_now(state, environ_facts(request.META, self._header_key), request.META)
            and (not core.must_sync(state) or core.sync_now(state))
        ):
            state.status = 503
            response.close()
            response = _refused()
        if response.streaming and not getattr(response, "is_async", False):
            response.streaming_content = ResponseBody(state, request.META, response.streaming_content, self._complete)
        else:
            state.ended = time.perf_counter()  # the whole body is built
            self._complete(state, request.META)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        """A view raised: Django answers 500 (or re-raises); the request's outcome is error either way."""
        state = current_context()
        if isinstance(state, RequestState):
            state.error = True

    def _glue_only(self, request: HttpRequest, outer: RequestState) -> HttpResponseBase:
        if outer.kind is Kind.LOGOUT:
            self._note_identity(request)
        try:
            return self.get_response(request)
        finally:
            self._note(request, outer)

    def _note(self, request: HttpRequest, state: RequestState) -> None:
        """Leave the route template and the actor where the core reads them.

        The route for every request: under an outer WSGI capture middleware the status and content
        type (whether a page view is recorded) are known only after this. The actor only for requests
        with audit events or consent receipts: a page view is anonymous, and ``request.user`` costs a
        session load.
        """
        try:
            request.META[ROUTE_KEY] = route_template(request)
        except Exception:
            self.core.errors += 1
            log.exception("ccaudit: could not read the route")
        if self.core.wants_actor(state):
            self._note_identity(request)

    def _note_identity(self, request: HttpRequest) -> None:
        note_identity(self.core, lambda: self._identity(request), request.META)

    def _platform_route(self, request: HttpRequest) -> HttpResponseBase:
        from django.http import HttpResponse

        method = request.method or ""
        headers = {name: value for name in WANTED_HEADERS if (value := request.headers.get(name)) is not None}
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        body = None if declared > MAX_RECEIPT_BYTES else (request.body if method == "POST" else b"")
        if body is not None and len(body) > MAX_RECEIPT_BYTES:
            body = None  # no (or a false) Content-Length: the limit holds all the same
        identity = None
        if method == "POST":
            try:
                identity = self._identity(request)
            except Exception:
                log.exception("ccaudit: identity lookup failed on a consent receipt")
        answer = self.platform_routes.handle(method, request.path, headers, body, identity)
        status, response_headers, payload = answer or (404, [], b"")
        response = HttpResponse(b"" if method == "HEAD" else payload, status=status)
        for name, value in response_headers:
            response[name] = value
        return response

    def _complete(self, state: RequestState, environ: Environ) -> None:
        facts = partial(environ_facts, environ, self._header_key)
        self.core.complete(state, facts, environ, partial(environ.get, "HTTP_COOKIE"))


def _refused() -> HttpResponseBase:
    from django.http import JsonResponse

    response = JsonResponse({"error": "the operation cannot be audited right now; try again later"}, status=503)
    response["Retry-After"] = "5"
    return response
