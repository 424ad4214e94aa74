"""What an anonymous usage row may say of a page and a referrer: names of places, never values.

The usage stream promises no IP address, no account and no e-mail address. The middleware sends
route templates and referrer hosts, but the service takes usage events from any holder of a
platform's token, and a Referer may name an IP literal; so both sides apply the same rules here, and
what does not pass is recorded as ``(other)`` (page) or nothing (referrer), never stored as sent.

A page is ``(other)`` or a path template: ``/`` and segments that are placeholders (``{id}``,
``<int:id>``, ``*``, ``**``) or literal words of letters, digits, ``.``, ``_``, ``~`` and ``-`` that do
not look like a value: no run of three or more digits (account numbers, IP addresses, years), no
numbers joined by dots, and no mix of letters and digits of 16 characters or more (hashes, UUIDs,
tokens). No query, fragment,
``@``, percent-encoding or space. A referrer is a DNS host name: not an IP address, no port, no user.
"""

from __future__ import annotations

import re
from functools import lru_cache

OTHER = "(other)"
MAX_PAGE = 1024
_MAX_HOST = 253

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PLACEHOLDER = re.compile(rf"^(\{{{_NAME}(:{_NAME})?\}}|<([a-z]+:)?{_NAME}>|\*\*?)$")
_WORD = re.compile(r"^[A-Za-z0-9._~-]+$")
_DIGIT_RUN = re.compile(r"\d{3}")
_DOTTED_NUMBERS = re.compile(r"^\d+(\.\d+)+$")  # IPv4 addresses with short parts: 0.0.0.0, 10.1.2.3
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _value_like(word: str) -> bool:
    if _DIGIT_RUN.search(word) or _DOTTED_NUMBERS.match(word):
        return True
    return len(word) >= 16 and any(c.isdigit() for c in word) and any(c.isalpha() for c in word)


@lru_cache(maxsize=4096)  # a platform has a few hundred templates at most
def safe_page(page: str) -> str:
    """``page`` if it names a place and holds no value; ``(other)`` otherwise."""
    if page == OTHER:
        return page
    if not page.startswith("/") or len(page) > MAX_PAGE:
        return OTHER
    for segment in page[1:].split("/"):
        if not segment or _PLACEHOLDER.match(segment):
            continue
        if not _WORD.match(segment) or _value_like(segment):
            return OTHER
    return page


@lru_cache(maxsize=4096)  # the same few referrers come back on page after page
def safe_referrer_host(host: str) -> str:
    """``host`` (lower-cased) if it is a DNS host name; '' for IP literals and anything else."""
    host = host.lower().rstrip(".")
    if not host or len(host) > _MAX_HOST:
        return ""
    labels = host.split(".")
    if not all(_LABEL.match(label) for label in labels):
        return ""  # brackets (IPv6), ports, user info, spaces, non-ASCII: not a host name
    if labels[-1].isdigit():
        return ""  # an IPv4 literal, in any of its spellings (no top-level domain is numeric)
    return host
