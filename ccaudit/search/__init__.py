"""Auditors search the logs: the query layer every read of the audit trail goes through.

The API routes (``ccaudit.service.audit_routes``), the console and the command line (through the API)
call these; none builds SQL. Each runs as a principal (its organisation and platform bounds are applied
before any filter) and is recorded in the access stream before anything is handed over; when the
record cannot be stored the read raises :class:`ccaudit.errors.StoreError` and nothing is shown.

Public surface::

    parse_filters(query: Mapping[str, str], also: Iterable[str] = ()) -> Filters
        query-string parameters (platform, organisation, actor, subject, action, resource_type,
        resource_id, outcome, status, ip, request_id, trace_id, text, since, until, and q, the search
        box) → Filters; raises BadParameter (its .name, .reason) for a bad value. ``also`` names the
        parameters the caller reads itself (e.g. ("limit", "cursor")).
    parse_box(text: str) -> Filters
        the search box alone (``actor:anna action:person.* ip:10.0.0.0/8 created:>=2026-11-01 "text"``);
        raises BadQualifier (a BadParameter with .position, from 0, and .qualifier, its text).
    search(store: Store, principal: Principal, filters: Filters, limit: int = 100,
           cursor: str | None = None, route: str = "GET /v1/audit/events") -> Page
        one page, newest first: Page.events (dicts as the read API returns them) and
        Page.next_cursor (None at the end). A bad cursor raises BadParameter("cursor", ...).
        ``route`` is what the access stream records as the place of the read (e.g. "console /console/search").
    event_detail(store: Store, principal: Principal, event_id: uuid.UUID,
                 route: str = "GET /v1/audit/events/{event_id}") -> dict | None
        {"event": every field, "links": {"same_request" | "same_trace" | "actor_that_day" |
        "this_subject": query string}}, or None if the principal sees no such event.
    open_export(store: Store, principal: Principal, filters: Filters, fmt: "csv" | "jsonl",
                route: str = "GET /v1/audit/export") -> Export
        records the start; ``Export.chunks()`` yields the bytes (constant memory), then records the count.
    access_log.read(store: Store, query: AccessQuery) -> (records, next_cursor)
        the access stream, newest first (the DPO's read).
"""

from ccaudit.search.access_log import AccessQuery
from ccaudit.search.box import BadQualifier, parse_box
from ccaudit.search.export import FORMATS, MEDIA_TYPES, Format
from ccaudit.search.filters import OUTCOMES, Filters, check_cursor, event_id_of, parse_filters, to_query
from ccaudit.search.reads import Export, Page, event_detail, links, open_export, search
from ccaudit.service.params import BadParameter

__all__ = [
    "FORMATS",
    "MEDIA_TYPES",
    "OUTCOMES",
    "AccessQuery",
    "BadParameter",
    "BadQualifier",
    "Export",
    "Filters",
    "Format",
    "Page",
    "check_cursor",
    "event_detail",
    "event_id_of",
    "links",
    "open_export",
    "parse_box",
    "parse_filters",
    "search",
    "to_query",
]
