"""Daily visitor-hash salts: random, one per UTC day, shared by all service replicas, kept two days.

A visitor hash is HMAC-SHA256(salt of the event's day, platform ‖ IP ‖ user agent). With a new salt
every day the same visitor gets unrelated hashes on different days; once a salt is deleted (two days
after its day) nobody, not even the operator, can recompute that day's hashes from an IP address.

Salts are created on first use. Replicas race safely: each inserts its random candidate with the
same deduplication token, the store keeps the first, and everyone reads that one back. A salt is
handed out only for yesterday, today and tomorrow (clock skew); an event outside that window gets no
visitor hash, and is then counted as a page view but not as a visitor.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from clickhouse_connect.driver.client import Client

from ccaudit.store.client import command, insert_rows, query_rows


def _today() -> date:
    return datetime.now(UTC).date()


class DailySalts:
    """Salt per UTC day, cached in memory, stored in ``<db>.visitor_salts``."""

    def __init__(self, client: Client, database: str, today: Callable[[], date] = _today) -> None:
        self._client = client
        self._db = database
        self._today = today
        self._cache: dict[date, bytes] = {}
        self._lock = threading.Lock()
        self._purged_through: date | None = None

    def salt_for(self, day: date) -> bytes | None:
        """The salt of ``day``, creating it if needed; None outside yesterday..tomorrow."""
        today = self._today()
        if not today - timedelta(days=1) <= day <= today + timedelta(days=1):
            return None
        salt = self._cache.get(day)
        if salt is not None:
            return salt
        with self._lock:
            self._purge(today)
            salt = self._cache.get(day) or self._load_or_create(day)
            if salt is not None:
                self._cache[day] = salt
            return salt

    def visitor_hash(self, day: date, platform: str, ip: str, user_agent: str) -> str:
        """The visitor hash for the day, or '' when there is no salt for it (or no IP)."""
        salt = self.salt_for(day)
        if salt is None or not ip:
            return ""
        message = f"{platform}\x00{ip}\x00{user_agent}".encode()
        return hmac.new(salt, message, hashlib.sha256).hexdigest()[:32]

    def _read(self, day: date) -> bytes | None:
        rows = query_rows(
            self._client,
            f"SELECT salt FROM {self._db}.visitor_salts WHERE day = {{day:Date}} ORDER BY created_at LIMIT 1",
            {"day": day},
        )
        return bytes.fromhex(rows[0][0]) if rows else None

    def _load_or_create(self, day: date) -> bytes | None:
        salt = self._read(day)
        if salt is not None:
            return salt
        insert_rows(
            self._client,
            self._db,
            "visitor_salts",
            [[day, secrets.token_hex(32), datetime.now(UTC)]],
            ["day", "salt", "created_at"],
            settings={"insert_deduplication_token": f"visitor-salt-{day.isoformat()}"},
        )
        return self._read(day)

    def _purge(self, today: date) -> None:
        """Delete salts whose day is two or more days ago (once per day per replica)."""
        if self._purged_through == today:
            return
        cutoff = today - timedelta(days=1)
        command(self._client, f"DELETE FROM {self._db}.visitor_salts WHERE day < {{cutoff:Date}}", {"cutoff": cutoff})
        for day in [d for d in self._cache if d < cutoff]:
            del self._cache[day]
        self._purged_through = today
