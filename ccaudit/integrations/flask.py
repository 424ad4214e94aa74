"""Flask extension: the WSGI capture middleware, plus what only Flask knows during the request.

``CCAudit(app)`` wraps ``app.wsgi_app`` in ``WsgiCaptureMiddleware``, and ``app.full_dispatch_request``
(the request's hooks and view, inside its request context) in a thin function that, for requests
that may be audited, notes the actor after the view ran (even when it raised), or before it for a
logout, while the user is still logged in; for every request it leaves the matched rule in the
environ, and the middleware makes it a route template (``<int:id>`` written ``{id}`` as in
Starlette) only for requests it records. No request hooks: Flask checks each hook for a coroutine
on every request, which cost more than everything else the extension does.

The actor comes from the ``resolver`` given (called inside the request context with the environ, so
it may use ``flask.g`` or ``current_user``), else from Flask-Login's ``current_user`` when the app
has a login manager: ``get_id()`` as the account, and the user's ``profile_id``, ``organisation``
and ``role`` attributes where it has them.

Settings: ``settings`` if given, else ``load_settings(**app.config["CCAUDIT"])`` (overrides on top
of the ``CCAUDIT_*`` environment).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request

from ccaudit.capture.context import current_context
from ccaudit.capture.core import RequestState
from ccaudit.capture.identity import Identity, Resolver
from ccaudit.capture.rules import Kind
from ccaudit.capture.wsgi import IDENTITY_KEY, Environ, WsgiCaptureMiddleware, note_identity
from ccaudit.integrations._routes import braces
from ccaudit.settings import Settings, load_settings
from ccaudit.shipping.recorder import Recorder

EXTENSION_KEY = "ccaudit"
RULE_KEY = "ccaudit.flask.url_rule"  # the matched werkzeug Rule, left in the environ for after the response


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
        middleware = WsgiCaptureMiddleware(app.wsgi_app, settings, recorder=self.recorder, route=flask_route)
        app.wsgi_app = middleware  # type: ignore[method-assign]
        app.extensions[EXTENSION_KEY] = middleware
        resolver = self.resolver
        core = middleware.core
        dispatch = app.full_dispatch_request

        def identity() -> Identity | None:
            if resolver is not None:
                return resolver(request.environ)
            return login_manager_identity(app)

        def full_dispatch_request() -> Response:
            state = current_context()
            if not isinstance(state, RequestState):
                return dispatch()
            if state.kind is Kind.LOGOUT:
                # After the view the user is logged out; note who it was while we still can.
                note_identity(core, identity, request.environ)
            try:
                return dispatch()
            finally:
                current = request._get_current_object()  # type: ignore[attr-defined]
                current.environ[RULE_KEY] = current.url_rule
                # After the view (a login view has just logged the user in), only for requests with
                # audit events or consent receipts: a page view is anonymous.
                if core.wants_actor(state) and IDENTITY_KEY not in current.environ:
                    note_identity(core, identity, current.environ)

        app.full_dispatch_request = full_dispatch_request  # type: ignore[method-assign]
        return middleware


def flask_route(environ: Environ) -> str:
    """The route template of the Flask request that served ``environ``; '' when no rule matched."""
    rule = environ.get(RULE_KEY)
    return braces(rule.rule) if rule is not None else ""
