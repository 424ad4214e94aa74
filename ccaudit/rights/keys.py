"""Keyed hashes of erasure, the same in Python and in the engine.

A pseudonym is ``erased:`` and the first 24 hex digits of HMAC-SHA256(identifier) under a random key
made for one erasure (one subject's request, or one retention run) and never stored: once the
erasure ends, nobody can compute it again, so the pseudonym no longer links to the person. The list
of erased subjects names each identifier only by HMAC-SHA256 under the store's late-arrivals key, so
that ingest can recognise a late event of an erased subject and give it the same pseudonym.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from ccaudit.store import Store
from ccaudit.store.client import insert_rows, query_rows

PREFIX = "erased:"  # what every pseudonym starts with
_LATE_KEY = "late-arrivals"


def pseudonym(key: str, identifier: str) -> str:
    return PREFIX + hmac.new(key.encode(), identifier.encode(), hashlib.sha256).hexdigest()[:24]


def pseudonym_sql(value: str) -> str:
    """The engine's ``pseudonym({key:String}, value)``."""
    return f"concat('{PREFIX}', substring(lower(hex(HMAC('sha256', {value}, {{key:String}}))), 1, 24))"


def new_key() -> str:
    return secrets.token_hex(32)


def digest(key: str, identifier: str) -> str:
    return hmac.new(key.encode(), b"late\n" + identifier.encode(), hashlib.sha256).hexdigest()


def late_key(store: Store, now: datetime) -> str:
    """The store's late-arrivals key, made on first use (the first one stored wins)."""
    sql = f"SELECT argMin(secret, created_at) FROM {store.database}.erasure_keys WHERE key_id = {{k:String}}"
    found = query_rows(store.client, sql, {"k": _LATE_KEY})
    if found and found[0][0]:
        return str(found[0][0])
    insert_rows(store.client, store.database, "erasure_keys", [[_LATE_KEY, new_key(), now]],
                ["key_id", "secret", "created_at"])  # fmt: skip
    return str(query_rows(store.client, sql, {"k": _LATE_KEY})[0][0])
