"""A small cooperative platform on Starlette, with ccaudit installed exactly as the README says.

Public pages, a login, end-user actions, an admin area that reads and edits people's records, and
a route that raises. Users live in memory; every password is "demo".

Run it:  CCAUDIT_SERVICE_URL=http://127.0.0.1:8787 uvicorn middleware.starlette_kit.app:app
"""

from __future__ import annotations

import html
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, AuthenticationBackend, BaseUser, SimpleUser
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from ccaudit import CaptureMiddleware, Identity, load_settings, record_audit, set_actor, set_subject


@dataclass
class Account:
    username: str
    profile_id: str
    organisation: str
    role: str
    name: str


ACCOUNTS = {
    "alice": Account("alice", "p-1001", "gemeente-a", "admin", "Alice Admin"),
    "bob": Account("bob", "p-2002", "gemeente-a", "user", "Bob Burger"),
    "carol": Account("carol", "p-3003", "gemeente-b", "user", "Carol Citizen"),
}
PEOPLE: dict[str, dict[str, str]] = {
    "100": {"name": "Anna de Vries", "email": "anna@example.org"},
    "101": {"name": "Bas Jansen", "email": "bas@example.org"},
    "102": {"name": "Chris Peeters", "email": "chris@example.org"},
}


class KitUser(SimpleUser):
    def __init__(self, account: Account) -> None:
        super().__init__(account.username)
        self.account = account


class SessionBackend(AuthenticationBackend):
    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        account = ACCOUNTS.get(conn.session.get("user", ""))
        if account is None:
            return None
        return AuthCredentials(["authenticated", account.role]), KitUser(account)


def resolve_identity(scope: Any) -> Identity | None:
    """ccaudit resolver: the actor from what AuthenticationMiddleware put in the scope."""
    user = scope.get("user")
    if not isinstance(user, KitUser):
        return None
    a = user.account
    return Identity(account_id=a.username, profile_id=a.profile_id, organisation=a.organisation, role=a.role)


# ccaudit's consent banner, served by the middleware on this origin: one tag on every page.
BANNER = '<script src="/.ccaudit/banner.js" defer></script>'


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><title>{html.escape(title)}</title><h1>{html.escape(title)}</h1>{body}" + BANNER, status
    )


async def form(request: Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}


async def home(request: Request) -> Response:
    return page("Cooperative platform", "<p>Welcome. <a href='/about'>About</a> · <a href='/login'>Log in</a></p>")


async def about(request: Request) -> Response:
    return page("About", "<p>A demo platform with ccaudit installed.</p>")


async def health(request: Request) -> Response:
    return PlainTextResponse("ok")


async def login(request: Request) -> Response:
    if request.method == "GET":
        return page(
            "Log in",
            "<form method=post><input name=username><input name=password type=password><button>Log in</button></form>",
        )
    data = await form(request)
    account = ACCOUNTS.get(data.get("username", ""))
    if account is None or data.get("password") != "demo":
        return page("Log in failed", "<p>Wrong user name or password.</p>", status=401)
    request.session["user"] = account.username
    # The login request itself was anonymous when it arrived: tell ccaudit who logged in.
    set_actor(account.username, profile_id=account.profile_id, organisation=account.organisation, role=account.role)
    return RedirectResponse("/admin/users" if account.role == "admin" else "/", status_code=303)


async def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/", status_code=303)


def require(request: Request, role: str | None = None) -> Account | None:
    user = request.user
    if not isinstance(user, KitUser) or (role is not None and user.account.role != role):
        return None
    return user.account


async def admin_users(request: Request) -> Response:
    if require(request, "admin") is None:
        return page("Forbidden", "", status=403)
    rows = "".join(f"<li><a href='/admin/users/{i}'>{html.escape(p['name'])}</a></li>" for i, p in PEOPLE.items())
    return page("People", f"<ul>{rows}</ul>")


async def admin_user(request: Request) -> Response:
    if require(request, "admin") is None:
        return page("Forbidden", "", status=403)
    person_id = request.path_params["person_id"]
    person = PEOPLE.get(person_id)
    if person is None:
        return page("Not found", "", status=404)
    set_subject(f"person:{person_id}")
    if request.method == "POST":
        data = await form(request)
        changed = sorted(k for k in data if k in person)
        person.update({k: data[k] for k in changed})
        record_audit(
            "person.update", resource_type="person", resource_id=person_id, details={"fields": ",".join(changed)}
        )
        return RedirectResponse(f"/admin/users/{person_id}", status_code=303)
    return page(person["name"], f"<p>{html.escape(person['email'])}</p>")


async def admin_boom(request: Request) -> Response:
    raise RuntimeError("the admin action failed (demo)")


async def create_post(request: Request) -> Response:
    if require(request) is None:
        return page("Log in first", "", status=401)
    data = await form(request)
    return JSONResponse({"created": data.get("title", "")}, status_code=201)


async def my_profile(request: Request) -> Response:
    account = require(request)
    if account is None:
        return page("Log in first", "", status=401)
    set_subject(account.profile_id)
    record_audit("profile.update", resource_type="profile", resource_id=account.profile_id)
    return RedirectResponse("/", status_code=303)


def create_app() -> Starlette:
    # The platform's route layout is the platform's knowledge, so it is given in code; deployment
    # settings (service URL, batching) come from CCAUDIT_* environment variables.
    settings = load_settings(
        platform="coop",
        admin_prefixes=("/admin",),
        personal_data_paths=("/admin/users", "/admin/users/*"),
    )
    return Starlette(
        routes=[
            Route("/", home),
            Route("/about", about),
            Route("/health", health),
            Route("/login", login, methods=["GET", "POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/admin/users", admin_users),
            Route("/admin/users/{person_id}", admin_user, methods=["GET", "POST"]),
            Route("/admin/boom", admin_boom, methods=["POST"]),
            Route("/posts", create_post, methods=["POST"]),
            Route("/me/profile", my_profile, methods=["POST"]),
        ],
        middleware=[
            # ccaudit first (outermost): it sees every request and the final status, and its
            # resolver reads scope["user"], which AuthenticationMiddleware sets further in.
            Middleware(CaptureMiddleware, settings=settings, resolver=resolve_identity),
            Middleware(SessionMiddleware, secret_key=secrets.token_hex(16), https_only=False),
            Middleware(AuthenticationMiddleware, backend=SessionBackend()),
        ],
    )


app = create_app()
