"""The console's client of the organisation's OpenID Connect provider, through Authlib.

Authorization code flow with PKCE (S256), ``state`` and ``nonce``. The requests are Authlib's
(``prepare_grant_uri``, ``prepare_token_request``, its client authentication), sent with httpx:
Authlib's own httpx client is not used, as Authlib deprecates it for another HTTP library. The
provider's endpoints and keys come from its discovery document
(``<issuer>/.well-known/openid-configuration``), whose ``issuer`` must be the configured one. The ID
token is verified the way Authlib's own web clients do (``parse_id_token``), with the audience and
the nonce made essential: its signature against the provider's JWKS (fetched again, at most once a
minute, when a token names a key not yet seen: key rotation), ``iss``, ``aud`` (this client),
``azp``, ``exp``, ``iat``, ``nonce`` and ``at_hash``. Claims the ID token lacks are then filled from
the userinfo endpoint, for providers that put groups there only.
"""

from __future__ import annotations

import ssl
import time
from typing import Any
from urllib.parse import urlparse

import httpx
from authlib.oauth2.auth import encode_client_secret_basic, encode_client_secret_post
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from ccaudit.settings import Settings

CALLBACK_PATH = "/console/login/oidc/callback"
TIMEOUT = 10.0  # seconds for each call to the provider
METADATA_TTL = 3600.0  # seconds the discovery document is kept
JWKS_MIN_REFRESH = 60.0  # seconds between two fetches of the keys for an unknown key id
LEEWAY = 60  # seconds of clock difference allowed on exp and iat


class OidcError(Exception):
    """The provider could not be used, or what it sent does not hold; the message says which."""


class OidcClient:
    def __init__(self, settings: Settings) -> None:
        secret = settings.oidc_client_secret
        self.issuer = settings.oidc_issuer
        self.client_id = settings.oidc_client_id
        self._secret = secret.get_secret_value() if secret is not None else ""
        self.redirect_uri = settings.oidc_redirect_base + CALLBACK_PATH
        scopes = list(dict.fromkeys(("openid", *settings.oidc_scopes)))
        self.scope = " ".join(scopes)
        self.name = settings.oidc_provider_name or urlparse(settings.oidc_issuer).hostname or settings.oidc_issuer
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._jwks: dict[str, Any] | None = None
        self._jwks_at = 0.0
        self._tls: ssl.SSLContext | None = None

    def _http(self) -> httpx.AsyncClient:
        """A client for one exchange with the provider. The TLS context (httpx's trust store) is made
        once: making it is most of what a new client costs (measured here: ~180 ms, against ~10 ms)."""
        if self._tls is None:
            self._tls = httpx.create_ssl_context()
        return httpx.AsyncClient(timeout=TIMEOUT, verify=self._tls)

    async def _get_json(self, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            async with self._http() as http:
                response = await http.get(url, **kwargs)
                response.raise_for_status()
                data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcError(f"{url}: {exc}") from None
        if not isinstance(data, dict):
            raise OidcError(f"{url}: not a JSON object")
        return data

    async def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (kept for an hour)."""
        # No lock: two requests that find it stale at once both fetch it, and either result is right.
        if self._metadata is None or time.monotonic() - self._metadata_at > METADATA_TTL:
            found = await self._get_json(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
            if found.get("issuer") != self.issuer:
                raise OidcError(f"the discovery document names issuer {found.get('issuer')!r}, not {self.issuer!r}")
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(found.get(key), str):
                    raise OidcError(f"the discovery document has no {key}")
            self._metadata, self._metadata_at = found, time.monotonic()
        return self._metadata

    async def _keys(self, refresh: bool) -> KeySet:
        metadata = await self.metadata()
        stale = refresh and time.monotonic() - self._jwks_at > JWKS_MIN_REFRESH
        if self._jwks is None or stale:
            self._jwks, self._jwks_at = await self._get_json(metadata["jwks_uri"]), time.monotonic()
        try:
            return KeySet.import_key_set(self._jwks)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise OidcError(f"the provider's keys cannot be read: {exc}") from None

    async def authorization_url(self, state: str, nonce: str, code_verifier: str) -> str:
        """Where to send the browser to log in."""
        metadata = await self.metadata()
        url = prepare_grant_uri(
            metadata["authorization_endpoint"], self.client_id, "code", redirect_uri=self.redirect_uri,
            scope=self.scope, state=state, nonce=nonce,
            code_challenge=create_s256_code_challenge(code_verifier), code_challenge_method="S256",
        )  # fmt: skip
        return str(url)

    async def _token(self, metadata: dict[str, Any], code: str, code_verifier: str) -> dict[str, Any]:
        """The token response for ``code`` (RFC 6749 §4.1.3, with the PKCE verifier of RFC 7636)."""
        body = prepare_token_request(
            "authorization_code", code=code, redirect_uri=self.redirect_uri, code_verifier=code_verifier
        )
        methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        encode = encode_client_secret_basic if "client_secret_basic" in methods else encode_client_secret_post
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        url, headers, body = encode(self, "POST", metadata["token_endpoint"], headers, body)
        try:
            async with self._http() as http:
                response = await http.post(url, content=body, headers=headers)
                token = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcError(f"the token request failed: {exc}") from None
        if response.status_code != 200 or not isinstance(token, dict):
            error = token.get("error") if isinstance(token, dict) else None
            raise OidcError(f"the token request was refused ({response.status_code}, {error!r})")
        return token

    @property
    def client_secret(self) -> str:
        """For Authlib's client authentication functions (they read client_id and client_secret)."""
        return self._secret

    async def claims(self, code: str, code_verifier: str, nonce: str) -> dict[str, Any]:
        """The verified claims of the user who logged in: the code exchanged (with the PKCE verifier),
        the ID token verified, claims it lacks read from the userinfo endpoint."""
        metadata = await self.metadata()
        token = await self._token(metadata, code, code_verifier)
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise OidcError("the token response has no ID token")
        claims = await self.verify_id_token(id_token, nonce, token.get("access_token"))
        userinfo_url = metadata.get("userinfo_endpoint")
        access_token = token.get("access_token")
        if isinstance(userinfo_url, str) and isinstance(access_token, str):
            extra = await self._get_json(userinfo_url, headers={"Authorization": f"Bearer {access_token}"})
            # Userinfo about another subject must be ignored (OpenID Connect Core §5.3.2).
            if extra.get("sub") == claims["sub"]:
                claims = {**{k: v for k, v in extra.items() if k not in claims}, **claims}
        return claims

    async def verify_id_token(self, id_token: str, nonce: str, access_token: Any = None) -> dict[str, Any]:
        """The ID token's claims if its signature and claims hold for this client and ``nonce``."""
        metadata = await self.metadata()
        algorithms = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        registry = JWSRegistry(algorithms=[a for a in algorithms if a != "none"], strict_check_header=False)
        try:
            try:
                decoded = jwt.decode(id_token, await self._keys(refresh=False), registry=registry)
            except InvalidKeyIdError:
                decoded = jwt.decode(id_token, await self._keys(refresh=True), registry=registry)
            params: dict[str, Any] = {"nonce": nonce, "client_id": self.client_id}
            if isinstance(access_token, str):
                params["access_token"] = access_token
            options: dict[str, Any] = {
                "iss": {"essential": True, "value": self.issuer},
                "aud": {"essential": True, "value": self.client_id},
                "exp": {"essential": True},
                "nonce": {"essential": True, "value": nonce},
            }
            claims = CodeIDToken(decoded.claims, decoded.header, options, params)
            claims.validate(now=int(time.time()), leeway=LEEWAY)
        except (JoseError, ValueError) as exc:
            raise OidcError(f"the ID token is refused: {exc}") from None
        return dict(claims)

    async def end_session_url(self, post_logout_redirect_uri: str) -> str | None:
        """The provider's logout address (RP-initiated logout) if it has one."""
        try:
            endpoint = (await self.metadata()).get("end_session_endpoint")
        except OidcError:
            return None
        if not isinstance(endpoint, str):
            return None
        query = httpx.QueryParams({"client_id": self.client_id, "post_logout_redirect_uri": post_logout_redirect_uri})
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"
