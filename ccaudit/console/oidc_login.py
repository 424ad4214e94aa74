"""Login to the console through the organisation's OpenID Connect provider.

``GET /console/login/oidc`` makes a login's secrets (``state``, ``nonce``, the PKCE verifier), puts
them in a short-lived cookie and sends the browser to the provider. The provider sends it back to
``GET /console/login/oidc/callback`` with a code; the state must be the cookie's, and unused; the
code is exchanged and the ID token verified (``ccaudit.access.oidc``); the claims are mapped to a
role and organisations (``ccaudit.access.claims``); the linked account is made or updated
(``ccaudit.access.identities``); then the console session starts as for a local login.

The login cookie is ``SameSite=Lax``, unlike the console's other cookies (``Strict``): the return
from the provider is a cross-site navigation, on which a Strict cookie is not sent. It is HttpOnly,
lives ten minutes, is scoped to ``/console/login/oidc``, and is signed (HMAC-SHA256 under a key drawn
from the client secret, which every replica has), so no one can make one; its state is accepted once
(``oidc_used_states``). The session cookie is set on a page that then moves on by itself (see
``oidc_done.html``), not on a redirect: the redirect would still be part of the cross-site
navigation, and the browser would withhold the new Strict cookie from the next page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ccaudit.access.claims import NoAccess, map_claims
from ccaudit.access.identities import IdentityStore
from ccaudit.access.oidc import OidcClient, OidcError
from ccaudit.console.guard import SESSION_COOKIE, Endpoint
from ccaudit.console.pages import Pages, secure
from ccaudit.console.sessions import SessionStore
from ccaudit.console.views import _safe_next, _secure_cookie
from ccaudit.settings import Settings

log = logging.getLogger("ccaudit.console")
STATE_COOKIE = "ccaudit_console_oidc"
STATE_PATH = "/console/login/oidc"
STATE_SECONDS = 600  # a login at the provider that takes longer starts again
_MAX_COOKIE = 2048


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class StateSeal:
    """Signs and checks the login cookie's content."""

    def __init__(self, client_secret: str) -> None:
        self._key = hmac.new(client_secret.encode(), b"ccaudit console oidc login cookie", hashlib.sha256).digest()

    def seal(self, payload: dict[str, Any]) -> str:
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return body + "." + _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())

    def open(self, value: str | None, now: float) -> dict[str, Any] | None:
        """The payload if ``value`` was sealed here less than STATE_SECONDS ago; None otherwise."""
        if not value or len(value) > _MAX_COOKIE or value.count(".") != 1:
            return None
        body, signature = value.split(".")
        expected = _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            return None
        try:
            payload = json.loads(_unb64(body))
        except (binascii.Error, ValueError):
            return None
        if not isinstance(payload, dict) or not all(isinstance(payload.get(k), str) for k in ("s", "n", "v", "next")):
            return None
        at = payload.get("at")
        if not isinstance(at, int) or not 0 <= now - at < STATE_SECONDS:
            return None
        return payload


class OidcLogin:
    def __init__(
        self, settings: Settings, client: OidcClient, identities: IdentityStore, sessions: SessionStore, pages: Pages
    ) -> None:
        secret = settings.oidc_client_secret
        self.settings = settings
        self.client = client
        self.identities = identities
        self.sessions = sessions
        self.pages = pages
        self.seal = StateSeal(secret.get_secret_value() if secret is not None else "")

    async def start(self, request: Request) -> Response:
        state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64)
        try:
            url = await self.client.authorization_url(state, nonce, verifier)
        except OidcError as exc:
            log.warning("console login through OpenID Connect: the provider is unavailable: %s", exc)
            return self.pages.problem(request, 503, "oidc_title", "oidc_unavailable")
        target = _safe_next(request.query_params.get("next"))
        cookie = self.seal.seal({"s": state, "n": nonce, "v": verifier, "next": target, "at": int(time.time())})
        response = secure(RedirectResponse(url, 303))
        response.set_cookie(STATE_COOKIE, cookie, max_age=STATE_SECONDS, path=STATE_PATH, httponly=True,
                            samesite="lax", secure=_secure_cookie(request, self.settings))  # fmt: skip
        return response

    def _refused(self, request: Request, status: int, reason: str, why: str) -> Response:
        client = request.client.host if request.client else ""
        log.warning("console login through OpenID Connect refused (client %s): %s", client, why)
        response = self.pages.problem(request, status, "oidc_title", reason)
        response.delete_cookie(STATE_COOKIE, path=STATE_PATH, httponly=True, samesite="lax")
        return response

    async def callback(self, request: Request) -> Response:
        pending = self.seal.open(request.cookies.get(STATE_COOKIE), time.time())
        if pending is None:
            return self._refused(request, 400, "oidc_failed", "no valid login cookie (none, forged or expired)")
        query = request.query_params
        state, code = query.get("state", ""), query.get("code", "")
        if not hmac.compare_digest(state.encode(), pending["s"].encode()):
            return self._refused(request, 400, "oidc_failed", "the state is not the login cookie's")
        if "error" in query or not code:
            return self._refused(
                request, 401, "oidc_failed", f"the provider answered {query.get('error', 'no code')!r}"
            )
        if not await run_in_threadpool(self.identities.use_state, state):
            return self._refused(request, 400, "oidc_failed", "the state was used already")
        try:
            claims = await self.client.claims(code[:4096], pending["v"], pending["n"])
        except OidcError as exc:
            return self._refused(request, 401, "oidc_failed", str(exc))
        try:
            user = map_claims(self.settings, claims)
        except NoAccess as exc:
            return self._refused(request, 403, exc.reason, f"sub {claims.get('sub')!r}: {exc}")
        account = await run_in_threadpool(self.identities.login, user)
        if account.disabled:
            return self._refused(request, 403, "oidc_no_access", f"account {account.account_id} is disabled")
        secret, _ = await run_in_threadpool(self.sessions.start, account.account_id)
        log.info("console login through OpenID Connect: account %s (%s)", account.account_id, account.role.value)
        response = self.pages.render(request, "oidc_done.html", target=_safe_next(pending["next"]))
        response.set_cookie(SESSION_COOKIE, secret, path="/console", httponly=True, samesite="strict",
                            secure=_secure_cookie(request, self.settings))  # fmt: skip
        response.delete_cookie(STATE_COOKIE, path=STATE_PATH, httponly=True, samesite="lax")
        return response

    async def logout_address(self) -> str | None:
        """Where to send the browser to be logged out at the provider too, back to the login page after;
        None if the provider has no end-session endpoint (or cannot be reached)."""
        return await self.client.end_session_url(self.settings.oidc_redirect_base + "/console/login")

    @staticmethod
    def not_configured_page(pages: Pages) -> Endpoint:
        """The endpoint of both routes when OpenID Connect is not configured: not found."""

        async def not_configured(request: Request) -> Response:
            return pages.problem(request, 404, "not_found_title", "not_found_text")

        return not_configured
