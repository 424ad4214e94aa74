"""The console's routes held to the access table (``ccaudit.access.roles.ROUTES``), as the API's are by
``ccaudit.service.auth.protect``, with a console session instead of a bearer credential.

- A route missing from the table cannot be built (LookupError).
- No live session: a page (GET) redirects to the login page, a form (POST) is 401.
- A session whose account lacks the route's permission: 403.
- Every POST carries a form with a ``csrf`` field: the session's token (or, for the login form, the
  value of the login cookie it was served with); without it, or with another, the POST is 403 and
  nothing changes.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ccaudit.access import AccountStore
from ccaudit.access.principal import account_principal
from ccaudit.access.roles import CONSOLE, PUBLIC, Permission, rule_for
from ccaudit.console.pages import Pages, Visitor, secure
from ccaudit.console.sessions import SessionStore
from ccaudit.errors import StoreError

Endpoint = Callable[[Request], Awaitable[Response]]
SESSION_COOKIE = "ccaudit_console"
LOGIN_COOKIE = "ccaudit_console_login"
MAX_FORM = 16 * 1024  # bytes: the console's forms are a few fields


class BadForm(ValueError):
    """A POST body that is not a small URL-encoded form."""


async def read_form(request: Request) -> dict[str, str]:
    """The POST's fields (first value of each). Parsed here, not by python-multipart: the console's forms
    are URL-encoded only, and a body past MAX_FORM is refused before it is read whole."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        raise BadForm("not a form")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise BadForm("form too large")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=64)
    except (UnicodeDecodeError, ValueError):
        raise BadForm("not a form") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value)
    return form


def _same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a).encode(), str(b).encode())


class Guard:
    def __init__(self, pages: Pages, sessions: SessionStore, accounts: AccountStore) -> None:
        self.pages = pages
        self.sessions = sessions
        self.accounts = accounts

    def visitor(self, request: Request) -> Visitor | None:
        """The live session of this request's cookie and its account, if the account is still enabled."""
        session = self.sessions.find(request.cookies.get(SESSION_COOKIE))
        if session is None:
            return None
        account = self.accounts.get(session.account_id)
        if account is None or account.disabled:
            return None
        return Visitor(session, account, account_principal(account.account_id, account.role, account.organisations))

    def route(self, path: str, endpoint: Endpoint, method: str) -> Route:
        """``endpoint`` at ``path`` held to the table; raises LookupError for a route not in it."""
        rule = rule_for(method, path)
        if rule is None:
            raise LookupError(f"{method} {path} is not in the access table (ccaudit.access.roles.ROUTES)")
        permission = None if rule.permission in (PUBLIC, CONSOLE) else Permission(rule.permission)
        public = rule.permission == PUBLIC

        async def guard(request: Request) -> Response:
            try:
                if method == "POST":
                    try:
                        request.state.form = await read_form(request)
                    except (BadForm, ClientDisconnect):
                        return self.pages.problem(request, 403, "csrf_title", "csrf_text")
                if public:
                    sent = request.state.form.get("csrf") if method == "POST" else None
                    if method == "POST" and not _same(sent, request.cookies.get(LOGIN_COOKIE)):
                        return self.pages.problem(request, 403, "csrf_title", "csrf_text")
                    return await endpoint(request)
                visitor = await run_in_threadpool(self.visitor, request)
                if visitor is None:
                    if method == "GET":
                        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                        return secure(RedirectResponse(f"/console/login?next={quote(target, safe='')}", 303))
                    return self.pages.problem(request, 401, "login_title", "login_needed")
                request.state.visitor = visitor
                if permission is not None and not visitor.principal.may(permission):
                    return self.pages.problem(request, 403, "forbidden_title", "forbidden_text")
                if method == "POST" and not visitor.session.csrf_ok(request.state.form.get("csrf")):
                    return self.pages.problem(request, 403, "csrf_title", "csrf_text")
                return await endpoint(request)
            except StoreError:
                return self.pages.problem(request, 503, "unavailable_title", "unavailable_text")

        return Route(path, guard, methods=[method])
