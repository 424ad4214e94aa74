"""Cookiebot: cookie ``CookieConsent``, a URL-encoded JavaScript object literal (not JSON)::

    {stamp:'-1x9FqM2…==',necessary:true,preferences:false,statistics:true,marketing:false,
     method:'explicit',ver:1,utc:1764410000000,region:'nl'}

``stamp`` is the consent id, ``ver`` the consent version (raised when the site renews consent), ``utc``
when the visitor chose (epoch ms). Not a consent: the value ``-1`` (the visitor is outside the region
the site targets, so no banner was shown) and a ``method`` other than ``explicit`` or ``implied``.
``method:'implied'`` (consent assumed from scrolling or browsing on) and a record without ``method``
(older releases, which do not say) are read with ``explicit=False``: the decision counts neither,
and reports them as implied rather than malformed.
Cookiebot's ``statistics`` is our ``analytics``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from types import MappingProxyType
from urllib.parse import unquote

from ccaudit.consent.adapters.base import (
    DEFAULT_CACHE_SIZE,
    CachedAdapter,
    Consent,
    epoch_ms,
    map_choices,
    revision_number,
    valid_id,
)
from ccaudit.consent.adapters.jsliteral import parse_object

NAME = "cookiebot"
COOKIE = "CookieConsent"
CATEGORIES: Mapping[str, str] = MappingProxyType(
    {"necessary": "necessary", "preferences": "preferences", "statistics": "analytics", "marketing": "marketing"}
)


def parse(raw: str, categories: Mapping[str, str] = CATEGORIES) -> Consent | None:
    """The consent in a ``CookieConsent`` value; ``categories`` maps Cookiebot's categories to ours."""
    try:
        text = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        return None
    record = parse_object(text)
    if record is None:  # "-1" lands here too: it is not an object
        return None
    method = record.get("method")
    if method not in ("explicit", "implied", None):  # something we cannot vouch for
        return None
    consent_id = valid_id(record.get("stamp"))
    if consent_id is None or consent_id == "-1":
        return None
    # Cookiebot writes every one of its categories; one left out (or not a boolean) was not agreed to.
    granted, denied = map_choices({theirs: record.get(theirs) is True for theirs in categories}, categories)
    ver, utc = record.get("ver"), record.get("utc")
    revision, given = revision_number(ver), epoch_ms(utc)
    if (ver is not None and revision is None) or (utc is not None and given is None):
        return None
    return Consent(
        categories_granted=granted,
        categories_denied=denied,
        consent_id=consent_id,
        revision=revision,
        given_ms=given,
        updated_ms=given,
        expires_ms=None,
        explicit=method == "explicit",
    )


def adapter(
    cookie_name: str = COOKIE, categories: Mapping[str, str] = CATEGORIES, cache_size: int = DEFAULT_CACHE_SIZE
) -> CachedAdapter:
    """An adapter for Cookiebot's cookie."""
    return CachedAdapter(NAME, cookie_name, partial(parse, categories=dict(categories)), cache_size)
