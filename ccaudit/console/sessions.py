"""Console sessions, kept in the store so that every replica sees a logout or a timeout at once.

The cookie carries a 256-bit random secret; the table (``console_sessions``, migration 0008) holds only
its SHA-256, so a copy of the table logs no one in. A session ends at logout, after
``console_idle_minutes`` without a request, or ``console_absolute_hours`` after its login, whichever
comes first; an account disabled meanwhile ends it too (checked on every request). Each session has
its own CSRF token, which every state-changing form carries back.

``last_seen`` is written at most once a minute per session: a page view is not a write, and the idle
timeout is still exact to the minute. The clock is injected, so tests move time without sleeping.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client

from ccaudit.store.client import insert_rows, query_rows

_COLUMNS = ("session_sha256", "account_id", "csrf_token", "created_at", "last_seen", "ended", "version")
TOUCH_EVERY = 60.0  # seconds between writes of last_seen for one session
# The cookie's value is what secrets.token_urlsafe(32) makes: 43 URL-safe characters.
_SECRET_LENGTH = 43


@dataclass(frozen=True, slots=True)
class Session:
    digest: str
    account_id: str
    csrf_token: str
    created_at: float  # epoch seconds
    last_seen: float

    def csrf_ok(self, sent: str | None) -> bool:
        """Whether ``sent`` is this session's CSRF token (compared in constant time)."""
        return sent is not None and hmac.compare_digest(sent.encode(), self.csrf_token.encode())


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class SessionStore:
    """Rows of ``<db>.console_sessions``."""

    def __init__(
        self,
        client: Client,
        database: str,
        idle_seconds: float,
        absolute_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._db = database
        self.idle = idle_seconds
        self.absolute = absolute_seconds
        self._clock = clock

    def start(self, account_id: str) -> tuple[str, Session]:
        """A new session for ``account_id``: (the cookie's secret, shown once; the session)."""
        secret = secrets.token_urlsafe(32)
        now = self._clock()
        session = Session(_digest(secret), account_id, secrets.token_urlsafe(32), now, now)
        self._write(session, ended=False)
        return secret, session

    def find(self, secret: str | None) -> Session | None:
        """The live session whose cookie is ``secret``; None if there is none, it ended or it timed out."""
        if not secret or len(secret) != _SECRET_LENGTH or not secret.isascii():
            return None
        rows = query_rows(
            self._client,
            f"SELECT account_id, csrf_token, created_at, last_seen, ended FROM {self._db}.console_sessions FINAL "
            "WHERE session_sha256 = {d:String}",
            {"d": _digest(secret)},
        )
        if not rows:
            return None
        account_id, csrf, created, seen, ended = rows[0]
        session = Session(
            _digest(secret), str(account_id), str(csrf),
            created.replace(tzinfo=UTC).timestamp(), seen.replace(tzinfo=UTC).timestamp(),
        )  # fmt: skip
        now = self._clock()
        if ended or now - session.last_seen >= self.idle or now - session.created_at >= self.absolute:
            return None
        if now - session.last_seen >= TOUCH_EVERY:
            session = Session(session.digest, session.account_id, session.csrf_token, session.created_at, now)
            self._write(session, ended=False)
        return session

    def end(self, session: Session) -> None:
        """Logout: the session is over on every replica."""
        self._write(session, ended=True)

    def _write(self, session: Session, ended: bool) -> None:
        row = [session.digest, session.account_id, session.csrf_token, _time(session.created_at),
               _time(session.last_seen), ended, time.time_ns()]  # fmt: skip
        insert_rows(self._client, self._db, "console_sessions", [row], _COLUMNS)
