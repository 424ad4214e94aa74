"""Platform ingest tokens: made, rotated and revoked here; checked by the service on every batch.

A token reads ``cca_<id>_<secret>``. The id finds the row; only the SHA-256 of the secret is stored
(the secret is 256 random bits, so a fast hash is enough: there is nothing to brute-force), and it is
compared in constant time. A rotated token keeps working for the grace period, so platforms can be
redeployed with the new one without losing a batch.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from ccaudit.store.client import insert_rows, query_rows
from ccaudit.wire import PLATFORM_PATTERN, PLATFORM_RULE

_TOKEN = re.compile(r"^cca_([0-9a-f]{16})_([A-Za-z0-9_-]{20,128})$")
_PLATFORM = re.compile(PLATFORM_PATTERN)
_COLUMNS = ("token_id", "platform", "secret_sha256", "created_at", "not_after", "version")


class InvalidPlatform(ValueError):
    """A token was asked for a name that is not a platform name: ingest would refuse every batch of it."""

    def __init__(self, platform: str) -> None:
        super().__init__(f"platform: {platform!r} is not a platform name (use {PLATFORM_RULE})")
        self.platform = platform


def check_platform(platform: str) -> str:
    """``platform`` if batches naming it can be ingested; raises InvalidPlatform otherwise."""
    if not _PLATFORM.match(platform):
        raise InvalidPlatform(platform)
    return platform


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenInfo:
    token_id: str
    platform: str
    created_at: datetime
    not_after: datetime | None

    def active(self, now: datetime) -> bool:
        return self.not_after is None or now < self.not_after

    def as_dict(self) -> dict[str, Any]:
        return {
            "token_id": self.token_id,
            "platform": self.platform,
            "created_at": self.created_at.isoformat(),
            "not_after": self.not_after.isoformat() if self.not_after else None,
        }


class TokenStore:
    """Token rows in ``<db>.platform_tokens``, with a small cache for the ingest path."""

    REFRESH = 10.0  # seconds: how soon a rotation or revocation by another replica takes effect

    def __init__(self, client: Client, database: str) -> None:
        self._client = client
        self._db = database
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[TokenInfo, str]] = {}
        self._loaded = 0.0

    # --- administration ---

    # Both the admin API and the command line's direct path come through create and rotate, so the
    # platform name is checked here, once for both: a token for a name ingest refuses is useless.

    def create(self, platform: str) -> tuple[str, TokenInfo]:
        """A new token for ``platform``: (the token, shown once; its info). Raises InvalidPlatform."""
        return self._issue(check_platform(platform))

    def rotate(self, platform: str, grace: timedelta) -> tuple[str, TokenInfo]:
        """A new token; the platform's current ones keep working for ``grace``. Raises InvalidPlatform."""
        check_platform(platform)
        until = datetime.now(UTC) + grace
        self._end([row for row in self._rows() if row[0].platform == platform and row[0].not_after is None], until)
        return self._issue(platform)

    def revoke(self, token_id: str) -> TokenInfo | None:
        """Stop a token now. Returns its info, or None if there is no such token."""
        found = [row for row in self._rows() if row[0].token_id == token_id]
        if not found:
            return None
        now = datetime.now(UTC)
        self._end(found, now)
        info = found[0][0]
        return TokenInfo(info.token_id, info.platform, info.created_at, now)

    def list_tokens(self, platform: str | None = None) -> list[TokenInfo]:
        return [info for info, _ in self._rows() if platform is None or info.platform == platform]

    # --- ingest path ---

    def verify(self, token: str) -> str | None:
        """The platform of a valid, current token; None otherwise."""
        match = _TOKEN.match(token)
        if not match:
            return None
        token_id, secret = match.groups()
        entry = self._cache.get(token_id)
        if entry is None or time.monotonic() - self._loaded > self.REFRESH:
            self._reload()
            entry = self._cache.get(token_id)
        if entry is None:
            return None
        info, digest = entry
        if not hmac.compare_digest(_digest(secret), digest) or not info.active(datetime.now(UTC)):
            return None
        return info.platform

    # --- storage ---

    def _reload(self) -> None:
        with self._lock:
            # A burst of unknown ids must not turn into a burst of queries.
            if time.monotonic() - self._loaded < 1.0:
                return
            self._cache = {info.token_id: (info, digest) for info, digest in self._rows()}
            self._loaded = time.monotonic()

    def _rows(self) -> list[tuple[TokenInfo, str]]:
        rows = query_rows(
            self._client,
            f"SELECT token_id, platform, secret_sha256, created_at, not_after "
            f"FROM {self._db}.platform_tokens FINAL ORDER BY created_at",
        )
        out = []
        for token_id, platform, digest, created, not_after in rows:
            created = created.replace(tzinfo=UTC)
            not_after = not_after.replace(tzinfo=UTC) if not_after is not None else None
            out.append((TokenInfo(str(token_id), str(platform), created, not_after), str(digest)))
        return out

    def _issue(self, platform: str) -> tuple[str, TokenInfo]:
        token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        self._write([(token_id, platform, _digest(secret), now, None)])
        return f"cca_{token_id}_{secret}", TokenInfo(token_id, platform, now, None)

    def _end(self, rows: list[tuple[TokenInfo, str]], when: datetime) -> None:
        """End the tokens of ``rows`` (as ``_rows`` read them: the digest is rewritten with the row)."""
        self._write([(t.token_id, t.platform, digest, t.created_at, when) for t, digest in rows])

    def _write(self, rows: list[tuple[str, str, str, datetime, datetime | None]]) -> None:
        if not rows:
            return
        version = time.time_ns()
        insert_rows(self._client, self._db, "platform_tokens", [[*row, version] for row in rows], _COLUMNS)
        with self._lock:
            self._loaded = 0.0  # see the change at once in this process
