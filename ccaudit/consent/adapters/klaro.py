"""Klaro!: cookie ``klaro`` (its ``cookieName`` option renames it), URI-encoded JSON of service → bool::

    {"matomo": true, "youtube": false}

Klaro records services, not categories, so which service belongs to which of our categories is
configuration (``{"matomo": "analytics", "plausible": "analytics"}``). A category is granted only if
every configured service of it is ``true`` in the cookie; a configured service that is false, missing,
or anything but a boolean refuses its category, because the visitor never agreed to it.
Klaro keeps no consent id, revision or time in the cookie.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import partial
from urllib.parse import unquote

from ccaudit.consent.adapters.base import DEFAULT_CACHE_SIZE, CachedAdapter, Consent, map_choices

NAME = "klaro"
COOKIE = "klaro"


def parse(raw: str, services: Mapping[str, str]) -> Consent | None:
    """The consent in a ``klaro`` value; ``services`` maps each service name to our category."""
    try:
        # Older Klaro releases wrote the JSON raw; current ones encode it.
        data = json.loads(raw if raw.startswith("{") else unquote(raw, errors="strict"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    # Anything but true (false, missing, not a boolean) is a no: the visitor never agreed to it.
    granted, denied = map_choices({service: data.get(service) is True for service in services}, services)
    return Consent(
        categories_granted=granted,
        categories_denied=denied,
        consent_id="",
        revision=None,
        given_ms=None,
        updated_ms=None,
        expires_ms=None,
        explicit=True,  # Klaro writes its cookie when the visitor saves a choice
    )


def adapter(
    cookie_name: str = COOKIE, services: Mapping[str, str] | None = None, cache_size: int = DEFAULT_CACHE_SIZE
) -> CachedAdapter:
    """An adapter for Klaro's cookie; without ``services`` it can grant nothing."""
    return CachedAdapter(NAME, cookie_name, partial(parse, services=dict(services or {})), cache_size)
