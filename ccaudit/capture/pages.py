"""What a page view records as its page and referrer: never the raw path or a full URL.

A raw path can hold ids or e-mail addresses, a query string anything. The page is the route
template the framework matched (``/courses/{course_id}``); where there is none, the first configured
pattern that matches (``usage_page_patterns``); otherwise ``(other)``. The referrer is reduced to
its host, and dropped when it is the platform's own host (internal navigation is not a referrer).
Both then pass the rules the service applies too (``ccaudit.anonymous``): a page that holds a value
is ``(other)``, a referrer that is an IP literal is dropped.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ccaudit.anonymous import OTHER, safe_page, safe_referrer_host
from ccaudit.capture.rules import glob_to_regex

_MAX_HOST = 253


class PageNames:
    """Maps a request to the page name a usage event records."""

    __slots__ = ("_patterns",)

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self._patterns = [(re.compile(glob_to_regex(p)), p) for p in patterns]

    def page(self, route_template: str, path: str) -> str:
        if route_template:
            return safe_page(route_template)
        for regex, pattern in self._patterns:
            if regex.fullmatch(path):
                return safe_page(pattern)
        return OTHER


def _bare_host(authority: str) -> str:
    """host[:port] or [v6]:port, with any user info → the host alone, lower-case."""
    host = authority.rpartition("@")[2].lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else ""
    return host.split(":", 1)[0]


def referrer_host(referer: str | None, own_host: str | None) -> str:
    """The host of a Referer header value; '' when absent, unparseable or the platform's own."""
    if not referer:
        return ""
    return _referrer_host(referer, own_host)


@lru_cache(maxsize=2048)  # the same few referrers come back on page after page
def _referrer_host(referer: str, own_host: str | None) -> str:
    _, sep, rest = referer.partition("://")
    if not sep:
        return ""
    host = _bare_host(rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0])
    if not host or len(host) > _MAX_HOST or not host.isascii() or not host.isprintable():
        return ""
    return "" if own_host and host == _bare_host(own_host) else safe_referrer_host(host)
