"""Osano cookieconsent (the original open-source banner): cookie ``cookieconsent_status``.

The value is one word: ``allow`` (opted in), ``deny`` (opted out) or ``dismiss`` (closed an
informational banner, which is not a consent: None). The banner is all-or-nothing, so ``allow`` grants
every category and ``deny`` refuses all but the necessary ones. It keeps no id, revision or time.
"""

from __future__ import annotations

from ccaudit.consent.adapters.base import (
    DEFAULT_CACHE_SIZE,
    NECESSARY,
    OUR_CATEGORIES,
    CachedAdapter,
    Consent,
)

NAME = "osano"
COOKIE = "cookieconsent_status"

_ALLOW = Consent(OUR_CATEGORIES, frozenset(), "", None, None, None, None, explicit=True)
_DENY = Consent(frozenset({NECESSARY}), OUR_CATEGORIES - {NECESSARY}, "", None, None, None, None, explicit=True)
_VALUES = {"allow": _ALLOW, "deny": _DENY}


def parse(raw: str) -> Consent | None:
    """The consent in a ``cookieconsent_status`` value."""
    return _VALUES.get(raw)


def adapter(cookie_name: str = COOKIE, cache_size: int = DEFAULT_CACHE_SIZE) -> CachedAdapter:
    """An adapter for Osano cookieconsent's cookie."""
    return CachedAdapter(NAME, cookie_name, parse, cache_size)
