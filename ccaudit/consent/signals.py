"""The consent signals a request carries: the ``Sec-GPC`` and ``DNT`` flags, and its Cookie header as
the configured adapters read it.

Each active adapter's cookie is looked up with ``cookie_value`` (first occurrence of the exact name
wins) and parsed through the adapter's cache. Nothing here decides: precedence,
revision, age and expiry are the decision's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from ccaudit.consent.adapters.base import Consent, ConsentAdapter


def header_flag(value: str | None) -> bool:
    """Whether a ``Sec-GPC`` or ``DNT`` header value is set (``1``)."""
    return value is not None and value.strip() == "1"


def cookie_value(cookie_header: str, name: str) -> str | None:
    """The value of cookie ``name`` in a Cookie header, tolerant of garbage; the first one wins.

    Searched with ``str.find`` rather than split into pairs: it runs on every page view.
    """
    key = name + "="
    at = cookie_header.find(key)
    while at != -1:
        if at == 0 or cookie_header[at - 1] in "; \t":  # a whole name, not the tail of another
            start = at + len(key)
            end = cookie_header.find(";", start)
            return (cookie_header[start:] if end == -1 else cookie_header[start:end]).strip().strip('"')
        at = cookie_header.find(key, at + 1)
    return None


class Reading(NamedTuple):
    """One adapter's cookie found in the header: its consent, or None if the value is not one."""

    adapter: str
    consent: Consent | None


def read_signals(cookie_header: str | None, adapters: Iterable[ConsentAdapter]) -> list[Reading]:
    """A reading for every adapter whose cookie is present, in the adapters' order. Never raises."""
    if not cookie_header:
        return []
    readings = []
    for adapter in adapters:
        raw = cookie_value(cookie_header, adapter.cookie_name)
        if raw is not None:
            readings.append(Reading(adapter.name, adapter.parse(raw)))
    return readings


def read_consents(cookie_header: str | None, adapters: Iterable[ConsentAdapter]) -> list[tuple[str, Consent]]:
    """``(adapter name, consent)`` for every adapter whose cookie holds a consent, in the adapters' order."""
    return [(r.adapter, r.consent) for r in read_signals(cookie_header, adapters) if r.consent is not None]
