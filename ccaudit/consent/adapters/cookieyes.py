"""CookieYes: cookie ``cookieyes-consent``, ``key:value`` pairs separated by commas::

    consentid:Y2RMNHRm…,consent:yes,action:yes,necessary:yes,functional:no,analytics:yes,
    performance:no,advertisement:no,other:yes,lastRenewedDate:1764410000000

``action:yes`` says the visitor acted on the banner; without it the values are the banner's defaults,
not a consent (None). ``consent:no`` is a rejection whatever the categories say. ``lastRenewedDate`` is
when the site last renewed consent (CookieYes asks again after a renewal), so it serves as the
revision: a number that grows, in epoch milliseconds. The record holds no time of the choice itself.
The value is decoded once: a double-encoded one still has its separators encoded then, so it does not
read as a consent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial
from types import MappingProxyType
from urllib.parse import unquote

from ccaudit.consent.adapters.base import (
    DEFAULT_CACHE_SIZE,
    NECESSARY,
    CachedAdapter,
    Consent,
    epoch_ms,
    map_choices,
    valid_id,
)

NAME = "cookieyes"
COOKIE = "cookieyes-consent"
CATEGORIES: Mapping[str, str] = MappingProxyType(
    {"necessary": "necessary", "functional": "preferences", "analytics": "analytics", "advertisement": "marketing"}
)
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_MAX_PAIRS = 64
_YES_NO = {"yes": True, "no": False}


def _pairs(text: str) -> dict[str, str] | None:
    parts = text.split(",", _MAX_PAIRS)
    if len(parts) > _MAX_PAIRS:
        return None
    pairs: dict[str, str] = {}
    for part in parts:
        key, colon, value = part.partition(":")
        if not colon or not _KEY.fullmatch(key) or key in pairs:
            return None
        pairs[key] = value
    return pairs


def parse(raw: str, categories: Mapping[str, str] = CATEGORIES) -> Consent | None:
    """The consent in a ``cookieyes-consent`` value; ``categories`` maps CookieYes's categories to ours."""
    try:
        text = unquote(raw, errors="strict") if "%" in raw else raw
    except UnicodeDecodeError:
        return None
    pairs = _pairs(text)
    if pairs is None or pairs.get("action") != "yes":
        return None
    consent, consent_id = _YES_NO.get(pairs.get("consent", "")), valid_id(pairs.get("consentid"))
    if consent is None or consent_id is None:
        return None
    renewed = pairs.get("lastRenewedDate")
    revision = None
    if renewed is not None:
        # isdigit alone admits "²", which int() refuses.
        if not (renewed.isascii() and renewed.isdigit() and len(renewed) <= 16):
            return None
        revision = epoch_ms(int(renewed))
    if consent:
        choices = {theirs: _YES_NO.get(pairs.get(theirs, "")) is True for theirs in categories}
    else:  # a rejection: only what cannot be refused stays
        choices = {theirs: ours == NECESSARY for theirs, ours in categories.items()}
    granted, denied = map_choices(choices, categories)
    return Consent(
        categories_granted=granted,
        categories_denied=denied,
        consent_id=consent_id,
        revision=revision,
        given_ms=None,
        updated_ms=None,
        expires_ms=None,
        explicit=True,
    )


def adapter(
    cookie_name: str = COOKIE, categories: Mapping[str, str] = CATEGORIES, cache_size: int = DEFAULT_CACHE_SIZE
) -> CachedAdapter:
    """An adapter for CookieYes's cookie."""
    return CachedAdapter(NAME, cookie_name, partial(parse, categories=dict(categories)), cache_size)
