"""``GET /v1/audit/events``: search the audit trail, newest first, with keyset pagination.

Parameters (each refused with a 400 naming it):

- ``since``, ``until``: ISO 8601 times from 1970-01-01T00:00:00Z to 2100-01-01T00:00:00Z (the read
  window, see :mod:`ccaudit.service.params`); a time without an offset is UTC. ``until`` is exclusive.
- ``limit``: 1 to ``CCAUDIT_MAX_PAGE_SIZE`` in digits 0-9 (default 100).
- ``cursor``: the ``next_cursor`` of the previous page, as this API returned it.
- ``platform``, ``organisation``, ``actor``, ``subject``, ``action``, ``request_id``: exact matches, at
  most 256 characters; ``outcome``: one of :data:`OUTCOMES`.

401 without a credential, 403 without ``audit:read``; an ``org_admin`` sees the rows of its own
organisations only, whatever the parameters say. 503 with ``Retry-After`` when the store fails.
"""

from __future__ import annotations

from dataclasses import replace

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ccaudit.service import params
from ccaudit.service.answers import Endpoint, guarded
from ccaudit.service.auth import principal
from ccaudit.service.params import BadParameter
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.audit import AuditQuery, decode_cursor

__all__ = ["OUTCOMES", "BadParameter", "make_search_endpoint", "parse_query"]

_TEXT_FILTERS = ("platform", "organisation", "actor", "subject", "action", "request_id")
OUTCOMES = ("success", "denied", "failed", "error", "aborted")
_KNOWN = {*_TEXT_FILTERS, "outcome", "since", "until", "limit", "cursor"}
# A cursor this API makes is ~70 characters; anything much longer is not one, and is not decoded.
_MAX_CURSOR = 200


def _check_cursor(cursor: str | None) -> None:
    if cursor is None:
        return
    problem = BadParameter("cursor", "not a cursor returned by this API")
    if len(cursor) > _MAX_CURSOR or not cursor.isascii():
        raise problem
    try:
        cursor_time, _ = decode_cursor(cursor)
    except (ValueError, OverflowError, OSError):  # OSError: fromtimestamp past the platform's time_t
        raise problem from None
    # A cursor names a stored row, so it may be anywhere the engine can store a time, but no further.
    if not params.ENGINE_EARLIEST <= cursor_time < params.ENGINE_END:
        raise problem


def parse_query(query: dict[str, str], max_page: int) -> AuditQuery:
    """Query-string parameters → AuditQuery, or BadParameter naming the parameter."""
    params.refuse_unknown(query, _KNOWN)
    texts: dict[str, str | None] = {name: params.text(name, query.get(name), 256) for name in _TEXT_FILTERS}
    outcome = query.get("outcome")
    if outcome is not None and outcome not in OUTCOMES:
        raise BadParameter("outcome", f"one of {', '.join(OUTCOMES)}")
    limit = params.integer("limit", query.get("limit", "100"), 1, max_page)
    _check_cursor(query.get("cursor"))
    return AuditQuery(
        since=params.iso_time("since", query.get("since")),
        until=params.iso_time("until", query.get("until")),
        platform=texts["platform"],
        organisation=texts["organisation"],
        actor=texts["actor"],
        subject=texts["subject"],
        action=texts["action"],
        outcome=outcome,
        request_id=texts["request_id"],
        limit=limit,
        cursor=query.get("cursor"),
    )


def make_search_endpoint(settings: Settings, store: Store) -> Endpoint:
    @guarded
    async def search(request: Request) -> Response:
        who = principal(request)
        query = replace(
            parse_query(dict(request.query_params), settings.max_page_size),
            scope_organisations=who.organisations,
            scope_platforms=who.platforms,
        )
        events, next_cursor = await run_in_threadpool(store.search_audit, query)
        return JSONResponse({"events": events, "next_cursor": next_cursor})

    return search
