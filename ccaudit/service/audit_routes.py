"""The audit read API: search, one event, export; and the access stream the DPO reads.

``GET /v1/audit/events``: filters as query parameters (see :mod:`ccaudit.search.filters`) or in the
search box ``q`` (see :mod:`ccaudit.search.box`), newest first:

- ``since`` (inclusive), ``until`` (exclusive): ISO 8601 times, in UTC unless they carry an offset.
- ``limit``: 1 to ``CCAUDIT_MAX_PAGE_SIZE`` in digits 0-9 (default 100).
- ``cursor``: the ``next_cursor`` of the previous page, as this API returned it.
- ``platform``, ``organisation``, ``actor`` (account or profile id), ``subject``, ``resource_type``,
  ``resource_id``, ``request_id``, ``trace_id``: exact matches, at most 256 characters, no control
  characters; ``action``: exact, or a prefix written ``person.*``; ``outcome``: one of
  :data:`OUTCOMES`; ``status``: 100 to 599; ``ip``: an address or a CIDR network; ``text``: occurs in
  one of the details' values, in any case.

A bad value is 400 naming the parameter; a bad part of ``q`` is 400 with its ``position`` and
``qualifier``. ``GET /v1/audit/events/{event_id}``: every field and related searches (404 if the
principal sees no such event). ``GET /v1/audit/export?format=csv|jsonl`` and the same filters:
streamed. ``GET /v1/access/events``: the access stream, newest first.

401 without a credential, 403 without the permission; an ``org_admin`` sees the rows of its own
organisations only, whatever the parameters say. Every read is recorded in the access stream first;
503 with ``Retry-After`` when the store (or that record) fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from ccaudit.search import (
    FORMATS,
    MEDIA_TYPES,
    BadQualifier,
    Format,
    access_log,
    check_cursor,
    event_id_of,
    parse_filters,
)
from ccaudit.search.filters import OUTCOMES, check_text, to_query
from ccaudit.search.reads import event_detail, open_export, search
from ccaudit.service import params
from ccaudit.service.answers import Endpoint, error, guarded
from ccaudit.service.auth import principal
from ccaudit.service.params import BadParameter
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.audit import AuditQuery

__all__ = ["OUTCOMES", "BadParameter", "audit_endpoints", "make_search_endpoint", "parse_query"]


def parse_query(query: dict[str, str], max_page: int) -> AuditQuery:
    """Query-string parameters → AuditQuery without a principal's bounds (the command line reading
    its own store), or BadParameter naming the parameter."""
    filters = parse_filters(query, ("limit", "cursor"))
    limit = params.integer("limit", query.get("limit", "100"), 1, max_page)
    return to_query(filters, None, limit, check_cursor(query.get("cursor")))


def _pointing(endpoint: Endpoint) -> Endpoint:
    """``endpoint``, answering a bad search box with where the bad qualifier is."""

    async def point(request: Request) -> Response:
        try:
            return await endpoint(request)
        except BadQualifier as exc:
            return JSONResponse({"error": str(exc), "position": exc.position, "qualifier": exc.qualifier}, 400)

    return point


def make_search_endpoint(settings: Settings, store: Store) -> Endpoint:
    @guarded
    @_pointing
    async def search_events(request: Request) -> Response:
        query: Mapping[str, str] = request.query_params
        filters = parse_filters(query, ("limit", "cursor"))
        limit = params.integer("limit", query.get("limit", "100"), 1, settings.max_page_size)
        page = await run_in_threadpool(
            search, store, principal(request), filters, limit, query.get("cursor"), "GET /v1/audit/events"
        )
        return JSONResponse({"events": page.events, "next_cursor": page.next_cursor})

    return search_events


def make_detail_endpoint(store: Store) -> Endpoint:
    @guarded
    async def detail(request: Request) -> Response:
        params.refuse_unknown(request.query_params, ())
        event_id = event_id_of(request.path_params["event_id"])
        if event_id is None:
            raise BadParameter("event_id", "not an event id (a UUID)")
        found = await run_in_threadpool(event_detail, store, principal(request), event_id)
        if found is None:
            return error(404, "no such event (or not one this credential may see)")
        return JSONResponse(found)

    return detail


def make_export_endpoint(store: Store) -> Endpoint:
    @guarded
    @_pointing
    async def export(request: Request) -> Response:
        query: Mapping[str, str] = request.query_params
        fmt = query.get("format", "csv")
        if fmt not in FORMATS:
            raise BadParameter("format", f"one of {', '.join(FORMATS)}")
        chosen: Format = "csv" if fmt == "csv" else "jsonl"
        filters = parse_filters(query, ("format",))
        started = await run_in_threadpool(open_export, store, principal(request), filters, chosen)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        headers = {"Content-Disposition": f'attachment; filename="audit-{stamp}.{chosen}"'}
        # A sync iterator: Starlette reads it in a worker thread, one chunk at a time.
        return StreamingResponse(started.chunks(), media_type=MEDIA_TYPES[chosen], headers=headers)

    return export


_ACCESS_KNOWN = ("since", "until", "principal", "account_id", "kind", "limit", "cursor")


def make_access_endpoint(settings: Settings, store: Store) -> Endpoint:
    @guarded
    async def access_events(request: Request) -> Response:
        query: Mapping[str, str] = request.query_params
        params.refuse_unknown(query, _ACCESS_KNOWN)
        kind = query.get("kind")
        if kind is not None and kind not in access_log.KINDS:
            raise BadParameter("kind", f"one of {', '.join(access_log.KINDS)}")
        texts = {n: check_text(n, query[n]) if n in query else None for n in ("principal", "account_id")}
        wanted = access_log.AccessQuery(
            since=params.iso_time("since", query.get("since")),
            until=params.iso_time("until", query.get("until")),
            principal=texts["principal"],
            account_id=texts["account_id"],
            kind=kind,
            limit=params.integer("limit", query.get("limit", "100"), 1, settings.max_page_size),
            cursor=check_cursor(query.get("cursor")),
        )
        records, next_cursor = await run_in_threadpool(
            access_log.read_recorded, store, principal(request), "GET /v1/access/events", wanted
        )
        return JSONResponse({"events": records, "next_cursor": next_cursor})

    return access_events


def audit_endpoints(settings: Settings, store: Store) -> dict[str, Endpoint]:
    """The read API's endpoints by path (app.py declares the routes)."""
    return {
        "/v1/audit/events": make_search_endpoint(settings, store),
        "/v1/audit/events/{event_id}": make_detail_endpoint(store),
        "/v1/audit/export": make_export_endpoint(store),
        "/v1/access/events": make_access_endpoint(settings, store),
    }
