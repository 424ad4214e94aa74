"""Our own consent cookie (``ccaudit.consent.cookie``) behind the same interface as the managers'.

The cookie lists the accepted categories; each of ours it leaves out is refused.
"""

from __future__ import annotations

from ccaudit.consent.adapters.base import DEFAULT_CACHE_SIZE, OUR_CATEGORIES, CachedAdapter, Consent
from ccaudit.consent.cookie import parse_consent_cookie

NAME = "ccaudit"
COOKIE = "ccaudit_consent"


def parse(raw: str) -> Consent | None:
    """The consent in our cookie's value."""
    record = parse_consent_cookie(raw)
    if record is None:
        return None
    return Consent(
        categories_granted=record.categories,
        categories_denied=OUR_CATEGORIES - record.categories,
        consent_id=record.consent_id,
        revision=record.revision,
        given_ms=record.given_ms,
        updated_ms=record.updated_ms,
        expires_ms=None,
        explicit=True,  # only our banner writes it, on the visitor's click
    )


def adapter(cookie_name: str = COOKIE, cache_size: int = DEFAULT_CACHE_SIZE) -> CachedAdapter:
    """An adapter for our own cookie."""
    return CachedAdapter(NAME, cookie_name, parse, cache_size)
