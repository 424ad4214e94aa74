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
from ccaudit.console.guard import Guard
from ccaudit.console.pages import HERE, Pages, secure
from ccaudit.console.sessions import SessionStore
from ccaudit.console.views import Views
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.tokens import TokenStore

# The only files served from static/: an allow-list, so no path from a request reaches the disk.
STATIC = {"console.css": "text/css"}


def console_routes(
    settings: Settings,
    store: Store,
    authenticator: Authenticator,
    tokens: TokenStore,
    clock: Callable[[], float] = time.time,
) -> list[Route]:
    """The console's routes, each held to the access table. ``clock`` (epoch seconds) times sessions."""
    pages = Pages()
    sessions = SessionStore(store.client, store.database, settings.console_idle_minutes * 60.0,
                            settings.console_absolute_hours * 3600.0, clock)  # fmt: skip
    guard = Guard(pages, sessions, authenticator.accounts)
    views = Views(settings, store, authenticator, tokens, sessions, guard, pages)

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
        ("/console/language/{lang}", views.choose_language, "GET"),
        ("/console/static/{name}", static, "GET"),
        ("/console", views.home, "GET"),
        ("/console/logout", views.logout, "POST"),
        ("/console/search", views.search, "GET"),
        ("/console/events/{event_id}", views.event, "GET"),
        ("/console/accounts", views.accounts_list, "GET"),
        ("/console/accounts", views.create_account, "POST"),
        ("/console/accounts/{account_id}/disable", views.disable_account, "POST"),
        ("/console/tokens", views.tokens_list, "GET"),
        ("/console/tokens/{token_id}/revoke", views.revoke_token, "POST"),
        ("/console/requests", views.requests_list, "GET"),
    )
    return [guard.route(path, endpoint, method) for path, endpoint, method in table]


__all__ = ["console_routes"]
