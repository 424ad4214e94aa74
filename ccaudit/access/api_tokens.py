"""API tokens for reading: personal ones (an account's) and platform read tokens (a machine's).

A token reads ``ccp_<id>_<secret>`` (personal) or ``ccr_<id>_<secret>`` (platform read). The id finds
the row; only the SHA-256 of the 256-bit secret is stored, compared in constant time. Every token
expires (personal: 90 days unless asked otherwise, at most a year) and can be revoked at once. A
personal token carries scopes that narrow its account's role; a platform read token reads one
platform only, within its scopes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from clickhouse_connect.driver.client import Client

from ccaudit.access.roles import PLATFORM_READ_SCOPES, Permission
from ccaudit.store.client import insert_rows, query_rows
from ccaudit.store.tokens import check_platform

Kind = Literal["personal", "platform_read"]
_PREFIX: dict[Kind, str] = {"personal": "ccp", "platform_read": "ccr"}
_TOKEN = re.compile(r"^(ccp|ccr)_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
MAX_DAYS = 366
_COLUMNS = ("token_id", "kind", "account_id", "platform", "scopes", "secret_sha256", "created_at", "expires_at",
            "revoked", "version")  # fmt: skip


class TokenError(ValueError):
    """A token cannot be made as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class ApiToken:
    token_id: str
    kind: Kind
    account_id: str
    platform: str
    scopes: frozenset[Permission]
    created_at: datetime
    expires_at: datetime
    revoked: bool

    def active(self, now: datetime) -> bool:
        return not self.revoked and now < self.expires_at

    def as_dict(self) -> dict[str, Any]:
        return {
            "token_id": self.token_id, "kind": self.kind, "account_id": self.account_id or None,
            "platform": self.platform or None, "scopes": sorted(self.scopes), "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(), "revoked": self.revoked,
        }  # fmt: skip


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(scopes: Iterable[str], allowed: frozenset[Permission]) -> frozenset[Permission]:
    """Scopes named by their text, each one of ``allowed``; raises TokenError otherwise."""
    parsed = set()
    for scope in scopes:
        try:
            permission = Permission(scope)
        except ValueError:
            permission = None
        if permission is None or permission not in allowed:
            raise TokenError(f"scope: {scope!r} is not one of {', '.join(sorted(allowed))}")
        parsed.add(permission)
    return frozenset(parsed)


class ApiTokenStore:
    """Rows of ``<db>.api_tokens``, with a short-lived cache for the read path."""

    REFRESH = 10.0  # seconds: how soon a revocation by another replica takes effect

    def __init__(self, client: Client, database: str) -> None:
        self._client = client
        self._db = database
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[ApiToken, str]] = {}
        self._loaded = 0.0

    def create_personal(self, account_id: str, scopes: frozenset[Permission], days: int = 90) -> tuple[str, ApiToken]:
        return self._issue("personal", account_id, "", scopes, days)

    def create_platform_read(self, platform: str, scopes: Iterable[str], days: int = 365) -> tuple[str, ApiToken]:
        parsed = parse_scopes(scopes, PLATFORM_READ_SCOPES)
        if not parsed:
            raise TokenError(f"scope: name at least one of {', '.join(sorted(PLATFORM_READ_SCOPES))}")
        return self._issue("platform_read", "", check_platform(platform), parsed, days)

    def list_tokens(self, account_id: str | None = None) -> list[ApiToken]:
        return [t for t, _ in self._rows() if account_id is None or t.account_id == account_id]

    def revoke(self, token_id: str, account_id: str | None = None) -> ApiToken | None:
        """Revoke a token now (only the account's own when ``account_id`` is given)."""
        for token, digest in self._rows():
            if token.token_id == token_id and (account_id is None or token.account_id == account_id):
                ended = ApiToken(token.token_id, token.kind, token.account_id, token.platform, token.scopes,
                                 token.created_at, token.expires_at, True)  # fmt: skip
                self._write(ended, digest)
                return ended
        return None

    def verify(self, token: str) -> ApiToken | None:
        """The token's row if ``token`` is a current API token; None otherwise."""
        match = _TOKEN.match(token)
        if not match:
            return None
        prefix, token_id, secret = match.groups()
        if time.monotonic() - self._loaded > self.REFRESH:
            self._reload()
        entry = self._cache.get(token_id)
        if entry is None:
            # Made by another process since the last load: one point lookup by the sorting key, so a
            # new token works at once (a forged id costs the same small read, under the rate limit).
            found = self._rows(token_id)
            if not found:
                return None
            entry = found[0]
            with self._lock:
                self._cache[token_id] = entry
        info, digest = entry
        if _PREFIX[info.kind] != prefix or not hmac.compare_digest(_digest(secret), digest):
            return None
        return info if info.active(datetime.now(UTC)) else None

    def _issue(
        self, kind: Kind, account_id: str, platform: str, scopes: frozenset[Permission], days: int
    ) -> tuple[str, ApiToken]:
        if not 1 <= days <= MAX_DAYS:
            raise TokenError(f"days: from 1 to {MAX_DAYS}")
        token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        token = ApiToken(token_id, kind, account_id, platform, scopes, now, now + timedelta(days=days), False)
        self._write(token, _digest(secret))
        return f"{_PREFIX[kind]}_{token_id}_{secret}", token

    def _reload(self) -> None:
        rows = {t.token_id: (t, d) for t, d in self._rows()}
        with self._lock:
            self._cache = rows
            self._loaded = time.monotonic()

    def _rows(self, token_id: str | None = None) -> list[tuple[ApiToken, str]]:
        where = "" if token_id is None else "WHERE token_id = {token_id:String} "
        rows = query_rows(
            self._client,
            f"SELECT token_id, kind, account_id, platform, scopes, secret_sha256, created_at, expires_at, revoked "
            f"FROM {self._db}.api_tokens FINAL {where}ORDER BY created_at",
            {"token_id": token_id} if token_id is not None else None,
        )
        out = []
        for i, k, a, p, sc, d, c, e, r in rows:
            scopes = frozenset(Permission(s) for s in sc)
            token = ApiToken(str(i), k, str(a), str(p), scopes, c.replace(tzinfo=UTC), e.replace(tzinfo=UTC), bool(r))
            out.append((token, str(d)))
        return out

    def _write(self, token: ApiToken, digest: str) -> None:
        row = [token.token_id, token.kind, token.account_id, token.platform, sorted(token.scopes), digest,
               token.created_at, token.expires_at, token.revoked, time.time_ns()]  # fmt: skip
        insert_rows(self._client, self._db, "api_tokens", [row], _COLUMNS)
        with self._lock:
            self._loaded = 0.0  # this process sees the change at once
