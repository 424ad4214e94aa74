"""Our own consent cookie: its format, parsing and encoding.

The value is URI-encoded JSON, compact because it travels with every request:

    {"v": 1, "id": "<consent id: a UUID>", "rev": 3, "cats": ["necessary", "analytics"],
     "given": 1764410000000, "updated": 1764410000000}

``v`` is the format version, ``rev`` the revision of the privacy/cookie policy the visitor consented
to, ``cats`` the categories accepted (absent = rejected), ``given`` and ``updated`` epoch
milliseconds of the first consent and of the last change. Anything else, or anything missing, makes
the cookie malformed: malformed means no consent.

Parses are cached by raw value in a bounded LRU (the same visitor sends the same value on every
request); the *decision* is never cached, because age and revision depend on the clock and on
configuration.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import quote, unquote

FORMAT_VERSION = 1
# Browsers keep at most 4096 bytes of name and value per cookie (RFC 6265 §6.1 minimum, and what they
# enforce), so a longer value was written by no banner, ours or a consent manager's.
MAX_COOKIE_VALUE = 4096
_CONSENT_ID = re.compile(r"^[0-9a-fA-F-]{8,64}$")
_CATEGORY = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class ConsentRecord(NamedTuple):
    """A parsed consent cookie."""

    consent_id: str
    revision: int
    categories: frozenset[str]
    given_ms: int
    updated_ms: int


def _int(value: object) -> int | None:
    # bool is an int in Python; a JSON true is not a timestamp.
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


@lru_cache(maxsize=8192)
def parse_consent_cookie(raw: str) -> ConsentRecord | None:
    """The record in a raw cookie value, or None if it is not a well-formed consent cookie."""
    if not raw or len(raw) > MAX_COOKIE_VALUE:
        return None
    try:
        data = json.loads(unquote(raw, errors="strict"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("v") != FORMAT_VERSION:
        return None
    consent_id, cats = data.get("id"), data.get("cats")
    revision, given, updated = _int(data.get("rev")), _int(data.get("given")), _int(data.get("updated"))
    if not isinstance(consent_id, str) or not _CONSENT_ID.match(consent_id):
        return None
    if not isinstance(cats, list) or not all(isinstance(c, str) and _CATEGORY.match(c) for c in cats):
        return None
    if revision is None or given is None or updated is None or updated < given:
        return None
    return ConsentRecord(consent_id, revision, frozenset(cats), given, updated)


def encode_consent_cookie(record: ConsentRecord) -> str:
    """The cookie value for ``record`` (what a banner writes)."""
    data = {
        "v": FORMAT_VERSION,
        "id": record.consent_id,
        "rev": record.revision,
        "cats": sorted(record.categories),
        "given": record.given_ms,
        "updated": record.updated_ms,
    }
    return quote(json.dumps(data, separators=(",", ":")), safe="")
