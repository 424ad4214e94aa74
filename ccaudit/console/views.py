"""The console's pages: thin views over the functions the API calls too.

Login, logout, the language switch, the start page, accounts and tokens (through the same stores as
``/v1/admin/*``). The audit pages (search, event, export, saved searches, access log) are in
``search_views.py``, over ``ccaudit.search`` as the read API is.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ccaudit.access import AccountError, AccountStore, Authenticator, Role
from ccaudit.access.claims import USERNAME_PREFIX
from ccaudit.console import i18n
from ccaudit.console.guard import LOGIN_COOKIE, SESSION_COOKIE, Guard
from ccaudit.console.pages import LANG_COOKIE, Pages, Visitor, secure
from ccaudit.console.sessions import SessionStore
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.tokens import TokenStore


def _secure_cookie(request: Request, settings: Settings) -> bool:
    return settings.console_secure_cookies or request.url.scheme == "https"


def _safe_next(target: str | None) -> str:
    """Where to go after login: a console path of this origin only (never ``//host`` or ``/\\host``)."""
    if target and target.startswith("/console") and not target.startswith(("//", "/\\")) and "\\" not in target:
        return target
    return "/console"


class Views:
    def __init__(
        self, settings: Settings, store: Store, authenticator: Authenticator, tokens: TokenStore,
        sessions: SessionStore, guard: Guard, pages: Pages,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.store = store
        self.authenticator = authenticator
        self.accounts: AccountStore = authenticator.accounts
        self.tokens = tokens
        self.sessions = sessions
        self.guard = guard
        self.pages = pages
        self.oidc_name: str | None = None
        self.oidc_logout: Callable[[], Awaitable[str | None]] | None = None

    # --- login, logout, language -------------------------------------------------------------------

    def _login_page(self, request: Request, status: int = 200, **context: Any) -> Response:
        # The login form's CSRF token: a random value in a cookie and in the form (double submit). A
        # page of another site can neither read the cookie nor, with SameSite=Strict, send it.
        token = request.cookies.get(LOGIN_COOKIE) or uuid.uuid4().hex + uuid.uuid4().hex
        context.setdefault("error", False)
        context.setdefault("message", None)
        context.setdefault("username", "")
        # "Log in with <provider>" when OpenID Connect is configured (ccaudit.console.oidc_login).
        context.setdefault("oidc", self.oidc_name)
        response = self.pages.render(
            request, "login.html", status, csrf=token, next=_safe_next(request.query_params.get("next")), **context
        )
        response.set_cookie(LOGIN_COOKIE, token, path="/console", httponly=True, samesite="strict",
                            secure=_secure_cookie(request, self.settings))  # fmt: skip
        return response

    async def login_form(self, request: Request) -> Response:
        visitor = await run_in_threadpool(self.guard.visitor, request)
        if visitor is not None:
            return secure(RedirectResponse(_safe_next(request.query_params.get("next")), 303))
        return self._login_page(request)

    async def login(self, request: Request) -> Response:
        form: dict[str, str] = request.state.form
        username, password = form.get("username", "")[:256], form.get("password", "")[:1024]
        client = request.client.host if request.client else ""
        # The same keys as the API's password login, so both count against one budget.
        keys = (f"account:{username.strip().lower()}", f"client:{client}")
        throttle = self.authenticator.throttle
        account = None
        if username and password and not throttle.blocked(*keys):
            account = await run_in_threadpool(self.accounts.verify_password, username, password)
            if account is None:
                throttle.failed(*keys)
            else:
                throttle.succeeded(keys[0])
        if account is None:
            return self._login_page(request, 401, error=True, username=username)
        secret, _ = await run_in_threadpool(self.sessions.start, account.account_id)
        response = secure(RedirectResponse(_safe_next(form.get("next")), 303))
        response.set_cookie(SESSION_COOKIE, secret, path="/console", httponly=True, samesite="strict",
                            secure=_secure_cookie(request, self.settings))  # fmt: skip
        response.delete_cookie(LOGIN_COOKIE, path="/console")
        return response

    async def logout(self, request: Request) -> Response:
        visitor: Visitor = request.state.visitor
        await run_in_threadpool(self.sessions.end, visitor.session)
        request.state.visitor = None
        response = self._login_page(request, message="logged_out")
        # An account of the identity provider may also be logged out there (RP-initiated logout,
        # CCAUDIT_OIDC_LOGOUT_AT_PROVIDER); the session here is over either way.
        if self.oidc_logout is not None and visitor.account.username.startswith(USERNAME_PREFIX):
            address = await self.oidc_logout()
            if address is not None:
                response = secure(RedirectResponse(address, 303))
        response.delete_cookie(SESSION_COOKIE, path="/console", httponly=True, samesite="strict")
        return response

    async def choose_language(self, request: Request) -> Response:
        lang = request.path_params["lang"]
        if lang not in i18n.LANGUAGES:
            return self.pages.problem(request, 404, "not_found_title", "not_found_text")
        response = secure(RedirectResponse(_safe_next(request.query_params.get("next")), 303))
        # A preference, not a credential: a year, readable by nothing but the console's requests.
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path="/console", httponly=True,
                            samesite="strict", secure=_secure_cookie(request, self.settings))  # fmt: skip
        return response

    async def home(self, request: Request) -> Response:
        return self.pages.render(request, "home.html")

    # --- accounts and tokens ------------------------------------------------------------------------

    async def accounts_page(self, request: Request, status: int = 200, **context: Any) -> Response:
        accounts = await run_in_threadpool(self.accounts.list_accounts)
        visitor: Visitor = request.state.visitor
        context.setdefault("message", None)
        context.setdefault("bad", None)
        context.setdefault("entered", {"username": "", "role": "auditor", "organisations": ""})
        return self.pages.render(request, "accounts.html", status, accounts=accounts, roles=[r.value for r in Role],
                                 csrf=visitor.session.csrf_token, **context)  # fmt: skip

    async def accounts_list(self, request: Request) -> Response:
        return await self.accounts_page(request)

    async def create_account(self, request: Request) -> Response:
        form: dict[str, str] = request.state.form
        username, role = form.get("username", "")[:256], form.get("role", "")[:64]
        organisations = [o for o in form.get("organisations", "")[:4096].split(",") if o.strip()]
        entered = {"username": username, "role": role, "organisations": form.get("organisations", "")[:4096]}
        try:
            made = await run_in_threadpool(self.accounts.create, username, role, organisations,
                                           form.get("password", "")[:1024])  # fmt: skip
        except AccountError as exc:
            field = str(exc).split(":")[0]
            field = {"organisation": "organisations"}.get(field, field)
            return await self.accounts_page(request, 400, bad=field, entered=entered)
        return await self.accounts_page(request, 201, message=("account_made", {"user": made.username}))

    async def disable_account(self, request: Request) -> Response:
        done = await run_in_threadpool(self.accounts.disable, request.path_params["account_id"][:64])
        if done is None:
            return self.pages.problem(request, 404, "not_found_title", "not_found_text")
        return await self.accounts_page(request, message=("account_disabled", {"user": done.username}))

    async def tokens_page(self, request: Request, message: tuple[str, dict[str, str]] | None = None) -> Response:
        tokens = await run_in_threadpool(self.tokens.list_tokens)
        visitor: Visitor = request.state.visitor
        now = datetime.fromtimestamp(time.time(), UTC)
        rows = [{"token": t, "current": t.active(now)} for t in tokens]
        return self.pages.render(request, "tokens.html", tokens=rows, csrf=visitor.session.csrf_token,
                                 message=message)  # fmt: skip

    async def tokens_list(self, request: Request) -> Response:
        return await self.tokens_page(request)

    async def revoke_token(self, request: Request) -> Response:
        done = await run_in_threadpool(self.tokens.revoke, request.path_params["token_id"][:64])
        if done is None:
            return self.pages.problem(request, 404, "not_found_title", "not_found_text")
        return await self.tokens_page(request, message=("token_revoked", {"token": done.token_id}))
