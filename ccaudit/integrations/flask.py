"""Flask extension: the WSGI capture middleware, plus what only Flask knows during the request.

``CCAudit(app)`` wraps ``app.wsgi_app`` in ``WsgiCaptureMiddleware`` and adds two request hooks:

- ``teardown_request`` (runs for every request, after the view, also when it raised): for requests
  that may be recorded, it leaves the route template (from ``request.url_rule``, with ``<int:id>``
  written ``{id}`` as in Starlette) and the actor in the environ for the middleware;
- ``before_request``: for logout requests only, it notes the actor before the view logs them out.

The actor comes from the ``resolver`` given (called inside the request context with the environ, so
it may use ``flask.g`` or ``current_user``), else from Flask-Login's ``current_user`` when the app
has a login manager: ``get_id()`` as the account, and the user's ``profile_id``, ``organisation``
and ``role`` attributes where it has them.

Settings: ``settings`` if given, else ``load_settings(**app.config["CCAUDIT"])`` (overrides on top
of the ``CCAUDIT_*`` environment).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, request

from ccaudit.capture.context import current_context
from ccaudit.capture.core import RequestState
from ccaudit.capture.identity import Identity, Resolver
from ccaudit.capture.rules import Kind
from ccaudit.capture.wsgi import IDENTITY_KEY, ROUTE_KEY, WsgiCaptureMiddleware
from ccaudit.integrations._routes import braces
from ccaudit.settings import Settings, load_settings
from ccaudit.shipping.recorder import Recorder

EXTENSION_KEY = "ccaudit"

log = logging.getLogger("ccaudit.capture")


def login_manager_identity(app: Flask) -> Identity | None:
    """The actor from Flask-Login's ``current_user``, or None when there is none (or no Flask-Login)."""
    if getattr(app, "login_manager", None) is None:
        return None
    from flask_login import current_user  # optional dependency: only apps with a login manager get here

    user: Any = current_user
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return Identity(
        account_id=str(user.get_id() or ""),
        profile_id=str(getattr(user, "profile_id", "") or ""),
        organisation=str(getattr(user, "organisation", "") or ""),
        role=str(getattr(user, "role", "") or ""),
    )


class CCAudit:
    """Flask extension. ``CCAudit(app)``, or ``ext = CCAudit(); ext.init_app(app)`` in an app factory."""

    def __init__(
        self,
        app: Flask | None = None,
        settings: Settings | None = None,
        resolver: Resolver | None = None,
        *,
        recorder: Recorder | None = None,
    ) -> None:
        self.settings = settings
        self.resolver = resolver
        self.recorder = recorder
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> WsgiCaptureMiddleware:
        """Install capture on ``app``; returns the middleware (its ``recorder`` and ``core`` counters)."""
        settings = self.settings or load_settings(**app.config.get("CCAUDIT", {}))
        middleware = WsgiCaptureMiddleware(app.wsgi_app, settings, recorder=self.recorder)
        app.wsgi_app = middleware  # type: ignore[method-assign]
        app.extensions[EXTENSION_KEY] = middleware
        resolver = self.resolver

        def identity() -> Identity | None:
            if resolver is not None:
                return resolver(request.environ)
            return login_manager_identity(app)

        def before() -> None:
            state = current_context()
            if isinstance(state, RequestState) and state.kind is Kind.LOGOUT:
                # After the view the user is logged out; note who it was while we still can.
                _note_identity(middleware, identity)

        def teardown(exc: BaseException | None) -> None:
            state = current_context()
            if not isinstance(state, RequestState) or not middleware.core.wants_facts(state):
                return
            environ = request.environ
            rule = request.url_rule
            if rule is not None:
                environ[ROUTE_KEY] = braces(rule.rule)
            if middleware.core.may_audit(state):  # a page view is anonymous: no actor lookup for it
                _note_identity(middleware, identity)

        app.before_request(before)
        app.teardown_request(teardown)
        return middleware


def _note_identity(middleware: WsgiCaptureMiddleware, identity: Callable[[], Identity | None]) -> None:
    try:
        found = identity()
    except Exception:  # a failing resolver must not break the request
        middleware.core.errors += 1
        log.exception("ccaudit: identity resolver failed")
        return
    if found is not None:
        request.environ[IDENTITY_KEY] = found
