"""Rendering the console's pages: Jinja2 templates from the package, the words of the request's
language, and the headers every console response carries.

The Content-Security-Policy allows the console's own stylesheet and nothing else: no script at all,
no inline style, forms posting only to this origin, no framing. Pages are ``no-store``: they show
personal data, which a shared browser's cache must not keep.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ccaudit.access import Account, Principal
from ccaudit.access.roles import Permission
from ccaudit.console import i18n
from ccaudit.console.sessions import Session

HERE = Path(__file__).resolve().parent
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
LANG_COOKIE = "ccaudit_lang"
# Pages in the menu: (path, the permission it needs or None for any account, its label's key).
MENU: tuple[tuple[str, Permission | None, str], ...] = (
    ("/console", None, "nav_home"),
    ("/console/dashboards", Permission.USAGE_READ, "nav_dashboards"),
    ("/console/search", Permission.AUDIT_READ, "nav_search"),
    ("/console/saved", Permission.AUDIT_READ, "nav_saved"),
    ("/console/access", Permission.ACCESS_READ, "nav_access"),
    ("/console/accounts", Permission.ACCOUNTS_ADMIN, "nav_accounts"),
    ("/console/tokens", Permission.TOKENS_ADMIN, "nav_tokens"),
    ("/console/learning", Permission.ELIGIBILITY_READ, "nav_learning"),
    ("/console/requests", Permission.SUBJECTS_ADMIN, "nav_requests"),
    ("/console/verify", Permission.SEAL_VERIFY, "nav_verify"),
)


@dataclass(frozen=True, slots=True)
class Visitor:
    """Who is logged in to the console for this request."""

    session: Session
    account: Account
    principal: Principal


def secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


def language(request: Request) -> str:
    return i18n.choose(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


class Pages:
    """The template environment, built once per app."""

    def __init__(self) -> None:
        self._env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> Response:
        lang = language(request)
        words = i18n.translator(lang)

        def t(key: str, **values: Any) -> str:
            return words[key].format(**values) if values else words[key]

        visitor: Visitor | None = getattr(request.state, "visitor", None)
        menu = []
        if visitor is not None:
            menu = [(path, key) for path, need, key in MENU if need is None or visitor.principal.may(need)]
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        html = self._env.get_template(template).render(
            t=t, lang=lang, languages=i18n.LANGUAGES, language_names=i18n.LANGUAGE_NAMES, here=here,
            path=request.url.path, visitor=visitor, menu=menu, **context,
        )  # fmt: skip
        return secure(HTMLResponse(html, status_code=status))

    def problem(self, request: Request, status: int, title: str, text: str) -> Response:
        """An error page: ``title`` and ``text`` are catalogue keys."""
        return self.render(request, "problem.html", status, title_key=title, text_key=text)
