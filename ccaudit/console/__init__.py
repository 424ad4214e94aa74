"""The web console under ``/console``: server-rendered pages over the same query layer as the API.

Login with a local account starts a session kept in the store (``sessions.py``); every page is held
to the access table (``guard.py``); pages are rendered from the package's templates in Dutch, French
or English (``i18n.py``, ``pages.py``) under a Content-Security-Policy that allows no script and no
inline style. ``console_routes`` builds the routes for the service's app factory.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from ccaudit.access import Authenticator
from ccaudit.access.identities import IdentityStore
from ccaudit.access.oidc import OidcClient
from ccaudit.console.dashboard_views import DashboardViews
from ccaudit.console.guard import Endpoint, Guard
from ccaudit.console.learning_views import LearningViews
from ccaudit.console.oidc_login import OidcLogin
from ccaudit.console.pages import HERE, Pages, secure
from ccaudit.console.request_views import RequestViews
from ccaudit.console.seal_views import SealViews
from ccaudit.console.search_views import SearchViews
from ccaudit.console.sessions import SessionStore
from ccaudit.console.views import Views
from ccaudit.learning.eligibility import Eligibility
from ccaudit.rights.actions import Rights
from ccaudit.seal.service import Sealing
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.tokens import TokenStore

# The only files served from static/: an allow-list, so no path from a request reaches the disk.
STATIC = {"console.css": "text/css", "refresh.js": "text/javascript"}


def console_routes(
    settings: Settings,
    store: Store,
    authenticator: Authenticator,
    tokens: TokenStore,
    clock: Callable[[], float] = time.time,
    eligibility: Eligibility | None = None,
    sealing: Sealing | None = None,
    rights: Rights | None = None,
) -> list[Route]:
    """The console's routes, each held to the access table. ``clock`` (epoch seconds) times sessions."""
    pages = Pages()
    sessions = SessionStore(store.client, store.database, settings.console_idle_minutes * 60.0,
                            settings.console_absolute_hours * 3600.0, clock)  # fmt: skip
    guard = Guard(pages, sessions, authenticator.accounts)
    views = Views(settings, store, authenticator, tokens, sessions, guard, pages)
    audit = SearchViews(store, authenticator.accounts, pages)
    dashboards = DashboardViews(settings, store, pages)
    requests = RequestViews(pages, rights or Rights(store, settings))
    oidc_start: Endpoint
    oidc_callback: Endpoint
    if settings.oidc_enabled:
        identities = IdentityStore(store.client, store.database, authenticator.accounts)
        oidc = OidcLogin(settings, OidcClient(settings), identities, sessions, pages)
        views.oidc_name = oidc.client.name
        if settings.oidc_logout_at_provider:
            views.oidc_logout = oidc.logout_address
        oidc_start, oidc_callback = oidc.start, oidc.callback
    else:  # the routes exist (the access table lists them) and answer 404
        oidc_start = oidc_callback = OidcLogin.not_configured_page(pages)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            return pages.problem(request, 404, "not_found_title", "not_found_text")
        response = secure(FileResponse(HERE / "static" / name, media_type=STATIC[name]))
        response.headers["Cache-Control"] = "public, max-age=3600"
        return response

    table = (
        ("/console/login", views.login_form, "GET"),
        ("/console/login", views.login, "POST"),
        ("/console/login/oidc", oidc_start, "GET"),
        ("/console/login/oidc/callback", oidc_callback, "GET"),
        ("/console/language/{lang}", views.choose_language, "GET"),
        ("/console/static/{name}", static, "GET"),
        ("/console", views.home, "GET"),
        ("/console/logout", views.logout, "POST"),
        ("/console/search", audit.search, "GET"),
        ("/console/events/{event_id}", audit.event, "GET"),
        ("/console/export", audit.export, "GET"),
        ("/console/saved", audit.saved_list, "GET"),
        ("/console/saved", audit.save, "POST"),
        ("/console/saved/{search_id}/delete", audit.delete_saved, "POST"),
        ("/console/access", audit.access, "GET"),
        ("/console/accounts", views.accounts_list, "GET"),
        ("/console/accounts", views.create_account, "POST"),
        ("/console/accounts/{account_id}/disable", views.disable_account, "POST"),
        ("/console/tokens", views.tokens_list, "GET"),
        ("/console/tokens/{token_id}/revoke", views.revoke_token, "POST"),
        ("/console/requests", requests.list, "GET"),
        ("/console/requests", requests.register, "POST"),
        ("/console/requests/{request_id}", requests.detail, "GET"),
        ("/console/requests/{request_id}/verify", requests.verify, "POST"),
        ("/console/requests/{request_id}/extend", requests.extend, "POST"),
        ("/console/requests/{request_id}/export", requests.export, "POST"),
        ("/console/requests/{request_id}/erase", requests.erase, "POST"),
        ("/console/requests/{request_id}/restrict", requests.restrict, "POST"),
        ("/console/requests/{request_id}/object", requests.object_, "POST"),
        ("/console/requests/{request_id}/rectify", requests.rectify, "POST"),
        ("/console/requests/{request_id}/close", requests.close, "POST"),
        ("/console/dashboards", dashboards.index, "GET"),
        ("/console/dashboards/{key}", dashboards.page, "GET"),
        ("/console/dashboards/{key}/{panel}.csv", dashboards.csv, "GET"),
    )
    routes = [guard.route(path, endpoint, method) for path, endpoint, method in table]
    if eligibility is not None:
        learning = LearningViews(pages, eligibility)
        routes.append(guard.route("/console/learning", learning.page, "GET"))
        routes.append(guard.route("/console/learning/waivers", learning.waive, "POST"))
    if sealing is not None:
        routes.append(guard.route("/console/verify", SealViews(pages, sealing).page, "GET"))
    return routes


__all__ = ["console_routes"]
