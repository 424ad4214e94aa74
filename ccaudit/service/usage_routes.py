"""``GET /v1/usage/summary``: page views, visitors and top lists for a platform and a range of days.

Parameters (each refused with a 400 naming it):

- ``since``, ``until``: ISO 8601 days (UTC), inclusive, from 1970-01-01 to 2099-12-31 (the read
  window, see :mod:`ccaudit.service.params`); at most :data:`MAX_DAYS` days apart. Default: the last
  :data:`DEFAULT_DAYS` days up to today.
- ``top``: 1 to 100 in digits 0-9 (default 10): the length of each top list.
- ``platform``, ``page``, ``referrer``: exact matches, at most 1024 characters.

401 without the admin token; 503 with ``Retry-After`` when the store fails.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ccaudit.service import params
from ccaudit.service.answers import Endpoint, guarded
from ccaudit.service.auth import principal
from ccaudit.service.params import BadParameter
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.usage import UsageQuery

_KNOWN = {"platform", "since", "until", "page", "referrer", "top"}
MAX_DAYS = 400
DEFAULT_DAYS = 30


def parse_usage_query(query: dict[str, str], today: date) -> UsageQuery:
    """Query-string parameters → UsageQuery, or BadParameter naming the parameter."""
    params.refuse_unknown(query, _KNOWN)
    until = params.iso_day("until", query.get("until"), today)
    # The default start is computed from the window's first day at the earliest: never before it.
    default_since = max(params.FIRST_DAY, until - timedelta(days=DEFAULT_DAYS - 1))
    since = params.iso_day("since", query.get("since"), default_since)
    if since > until:
        raise BadParameter("since", "must not be after until")
    if (until - since).days >= MAX_DAYS:
        raise BadParameter("since", f"the range may span at most {MAX_DAYS} days")
    top = params.integer("top", query.get("top", "10"), 1, 100)
    return UsageQuery(
        since=since,
        until=until,
        platform=params.text("platform", query.get("platform"), 1024),
        page=params.text("page", query.get("page"), 1024),
        referrer=params.text("referrer", query.get("referrer"), 1024),
        top=top,
    )


def make_summary_endpoint(settings: Settings, store: Store) -> Endpoint:
    @guarded
    async def summary(request: Request) -> Response:
        query = parse_usage_query(dict(request.query_params), datetime.now(UTC).date())
        query = replace(query, scope_platforms=principal(request).platforms)
        body = await run_in_threadpool(store.summarise_usage, query)
        return JSONResponse(body)

    return summary
