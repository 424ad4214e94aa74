"""Route templates in one notation: Flask's and Django's ``<int:id>`` become ``{id}``, as in Starlette."""

from __future__ import annotations

import re

_PARAM = re.compile(r"<(?:[^<>]*:)?([^<>:]+)>")
_CACHE_SIZE = 1024
_cache: dict[str, str] = {}


def braces(rule: str) -> str:
    """``/admin/learners/<int:learner_id>`` → ``/admin/learners/{learner_id}``, with a leading '/'.

    Memoised: an app has few routes, and this runs for every recorded request.
    """
    hit = _cache.get(rule)
    if hit is None:
        hit = _PARAM.sub(r"{\1}", rule)
        if not hit.startswith("/"):
            hit = "/" + hit
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        _cache[rule] = hit
    return hit
