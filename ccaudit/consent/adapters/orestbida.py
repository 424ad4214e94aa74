"""orestbida CookieConsent (vanilla-cookieconsent): cookie ``cc_cookie``, formats v3 and v2.

v3 writes ``encodeURIComponent(JSON.stringify(record))``::

    {"categories": ["necessary", "analytics"], "revision": 2, "data": null,
     "consentTimestamp": "2025-11-29T09:53:20.000Z", "consentId": "<uuid>",
     "services": {"analytics": ["matomo"]}, "languageCode": "nl",
     "lastConsentTimestamp": "2025-11-29T09:53:20.000Z", "expirationTime": 1780134800000}

v2 writes the JSON raw (URI-encoded only with its ``use_rfc_cookie`` option)::

    {"level": ["necessary", "analytics"], "revision": 0, "data": null, "rfc_cookie": false,
     "consent_date": "...Z", "consent_uuid": "<uuid>", "last_consent_update": "...Z"}

Both list only the accepted categories, so every category the mapping knows (and each of ours) that is
not listed counts as refused. The value is decoded at most once: a value still encoded after that was
double-encoded by something else and is not a consent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any
from urllib.parse import unquote

from ccaudit.consent.adapters.base import (
    DEFAULT_CACHE_SIZE,
    OUR_CATEGORIES,
    CachedAdapter,
    Consent,
    epoch_ms,
    iso_ms,
    map_accepted,
    revision_number,
    valid_category,
    valid_id,
)

NAME = "orestbida"
COOKIE = "cc_cookie"


def _json_object(raw: str) -> dict[str, Any] | None:
    # A raw v2 value starts with "{"; anything else must be URI-encoded JSON.
    try:
        data = json.loads(raw if raw.startswith("{") else unquote(raw, errors="strict"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _accepted(value: object) -> list[str] | None:
    if not isinstance(value, list) or len(value) > 64:
        return None
    names = [valid_category(name) for name in value]
    return None if None in names else [name for name in names if name is not None]


def _optional(value: object, convert: Callable[[object], int | None]) -> tuple[bool, int | None]:
    # (well-formed, value): absent or null is fine, present but wrong makes the whole record malformed.
    if value is None:
        return True, None
    converted = convert(value)
    return converted is not None, converted


def parse(raw: str, categories: Mapping[str, str] | None = None) -> Consent | None:
    """The consent in a ``cc_cookie`` value (v3 or v2); ``categories`` maps their names to ours."""
    data = _json_object(raw)
    if data is None:
        return None
    if "consentId" in data:  # v3
        accepted, consent_id = _accepted(data.get("categories")), valid_id(data.get("consentId"))
        given = iso_ms(data.get("consentTimestamp"))
        ok_updated, updated = _optional(data.get("lastConsentTimestamp"), iso_ms)
        ok_expires, expires = _optional(data.get("expirationTime"), epoch_ms)
    elif "level" in data:  # v2
        accepted, consent_id = _accepted(data.get("level")), valid_id(data.get("consent_uuid"))
        given = iso_ms(data.get("consent_date"))
        ok_updated, updated = _optional(data.get("last_consent_update"), iso_ms)
        ok_expires, expires = True, None
    else:
        return None
    ok_revision, revision = _optional(data.get("revision"), revision_number)
    if accepted is None or consent_id is None or given is None or not (ok_updated and ok_expires and ok_revision):
        return None
    if updated is not None and updated < given:
        return None
    granted = map_accepted(accepted, categories)
    known = OUR_CATEGORIES | frozenset(categories.values() if categories is not None else ())
    return Consent(
        categories_granted=granted,
        categories_denied=known - granted,
        consent_id=consent_id,
        revision=revision,
        given_ms=given,
        updated_ms=given if updated is None else updated,
        expires_ms=expires,
        explicit=True,  # the library writes its cookie only when the visitor chooses
    )


def adapter(
    cookie_name: str = COOKIE,
    categories: Mapping[str, str] | None = None,
    cache_size: int = DEFAULT_CACHE_SIZE,
) -> CachedAdapter:
    """An adapter for ``cc_cookie``; ``categories`` None reads their category names as ours."""
    frozen = None if categories is None else dict(categories)  # later changes to the caller's dict do not leak in
    return CachedAdapter(NAME, cookie_name, partial(parse, categories=frozen), cache_size)
