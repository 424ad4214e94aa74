"""The console's pages: thin views over the functions the API calls too.

The audit search goes through the read API's parser (``parse_query``) and the store's ``search_audit``
with the principal's bounds set on the query before it runs, so an ``org_admin`` sees its own
organisations' rows whatever the form or the address bar says. Accounts and tokens go through the
same stores as ``/v1/admin/*``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ccaudit.access import AccountError, AccountStore, Authenticator, Role
from ccaudit.console import i18n
from ccaudit.console.guard import LOGIN_COOKIE, SESSION_COOKIE, Guard
from ccaudit.console.pages import LANG_COOKIE, Pages, Visitor, secure
from ccaudit.console.sessions import SessionStore
from ccaudit.service import params
from ccaudit.service.audit_routes import OUTCOMES, BadParameter, parse_query
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.audit import AuditQuery
from ccaudit.store.tokens import TokenStore

PAGE = 50  # rows per page of the console's search
FILTERS = ("since", "until", "platform", "organisation", "actor", "subject", "action", "outcome", "request_id")
# Rows a detail lookup reads at most while looking for its event among those of the same millisecond.
_DETAIL_PAGES = 10


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

    # --- login, logout, language -------------------------------------------------------------------

    def _login_page(self, request: Request, status: int = 200, **context: Any) -> Response:
        # The login form's CSRF token: a random value in a cookie and in the form (double submit). A
        # page of another site can neither read the cookie nor, with SameSite=Strict, send it.
        token = request.cookies.get(LOGIN_COOKIE) or uuid.uuid4().hex + uuid.uuid4().hex
        context.setdefault("error", False)
        context.setdefault("message", None)
        context.setdefault("username", "")
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

    # --- audit search and detail --------------------------------------------------------------------

    async def search(self, request: Request) -> Response:
        visitor: Visitor = request.state.visitor
        raw = {k: v for k, v in request.query_params.items() if v != ""}
        shown = {name: raw.get(name, "") for name in FILTERS}
        try:
            if "limit" in raw:
                raise BadParameter("limit", "not a filter of this page")
            query = parse_query({**raw, "limit": str(PAGE)}, max(PAGE, self.settings.max_page_size))
        except BadParameter as exc:
            field = exc.name if exc.name in FILTERS else None
            return self.pages.render(request, "search.html", 400, filters=shown, outcomes=OUTCOMES, bad=field,
                                     bad_any=True, events=None, next_link=None, first_link=None)  # fmt: skip
        query = replace(query, scope_organisations=visitor.principal.organisations,
                        scope_platforms=visitor.principal.platforms)  # fmt: skip
        events, cursor = await run_in_threadpool(self.store.search_audit, query)
        base = {k: v for k, v in raw.items() if k != "cursor"}
        next_link = f"/console/search?{urlencode({**base, 'cursor': cursor})}" if cursor else None
        first_link = f"/console/search?{urlencode(base)}" if "cursor" in raw else None
        rows = [{**e, "link": f"/console/events/{e['event_id']}?{urlencode({'at': e['event_time']})}"} for e in events]
        return self.pages.render(request, "search.html", filters=shown, outcomes=OUTCOMES, bad=None, bad_any=False,
                                 events=rows, next_link=next_link, first_link=first_link)  # fmt: skip

    def _find_event(self, visitor: Visitor, event_id: str, at: datetime) -> dict[str, Any] | None:
        """The event, read through the same search as the list (so within the principal's bounds): the
        rows of its millisecond, newest first, until it is among them."""
        query = AuditQuery(
            since=at, until=at + timedelta(milliseconds=1), limit=self.settings.max_page_size,
            scope_organisations=visitor.principal.organisations, scope_platforms=visitor.principal.platforms,
        )  # fmt: skip
        for _ in range(_DETAIL_PAGES):
            events, cursor = self.store.search_audit(query)
            for event in events:
                if event["event_id"] == event_id:
                    return event
            if cursor is None:
                return None
            query = replace(query, cursor=cursor)
        return None

    async def event(self, request: Request) -> Response:
        visitor: Visitor = request.state.visitor
        try:
            event_id = str(uuid.UUID(request.path_params["event_id"]))
            at = params.iso_time("at", request.query_params.get("at"))
        except (ValueError, BadParameter):
            at = None
        found = None if at is None else await run_in_threadpool(self._find_event, visitor, event_id, at)
        if found is None:
            return self.pages.problem(request, 404, "not_found_title", "no_event")
        return self.pages.render(request, "event.html", event=found, fields=list(found.items()),
                                 links=_related(found))  # fmt: skip

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

    # --- data-subject requests ----------------------------------------------------------------------

    async def requests_list(self, request: Request) -> Response:
        """The DPO's requests, overdue ones first: a thin view over ``ccaudit.rights.requests``."""
        from ccaudit.rights.requests import Requests

        now = datetime.fromtimestamp(time.time(), UTC)
        found = await run_in_threadpool(Requests(self.store).list)
        rows = sorted(found, key=lambda r: (not r.overdue(now), r.due_at))
        shown = [{"r": r, "overdue": r.overdue(now)} for r in rows]
        return self.pages.render(request, "requests.html", requests=shown)


def _related(event: dict[str, Any]) -> list[tuple[str, str]]:
    """Searches around an event: (label key, console address); only those the search can answer."""
    links = []
    if event.get("request_id"):
        links.append(("same_request", {"request_id": event["request_id"]}))
    actor = event.get("actor_account_id") or event.get("actor_profile_id")
    if actor:
        day = datetime.fromisoformat(str(event["event_time"]).replace("Z", "+00:00")).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        end = day + timedelta(days=1)
        links.append(("actor_day", {"actor": actor, "since": _iso(day), "until": _iso(end)}))
    if event.get("subject_id"):
        links.append(("this_subject", {"subject": event["subject_id"]}))
    return [(key, f"/console/search?{urlencode(query)}") for key, query in links]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
