"""Reads of the audit trail as a principal, each recorded in the access stream before it is handed over."""

from __future__ import annotations

import json
import logging
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from ccaudit.access import Principal
from ccaudit.errors import StoreError
from ccaudit.search import access_log
from ccaudit.search.export import Format, encode
from ccaudit.search.filters import Filters, check_cursor, to_query
from ccaudit.store import Store
from ccaudit.store.audit import (
    READ_COLUMNS,
    AuditQuery,
    audit_event,
    next_width,
    search_audit,
    stream_audit,
    time_window,
)

log = logging.getLogger("ccaudit.search")
# Rows per query of an export on the embedded engine (see _embedded), and its first window of time.
EXPORT_PAGE = 20_000
EXPORT_WINDOW = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a search: events newest first, and the cursor of the next page (None at the end)."""

    events: list[dict[str, Any]]
    next_cursor: str | None


def search(
    store: Store, principal: Principal, filters: Filters, limit: int = 100, cursor: str | None = None,
    route: str = "GET /v1/audit/events",
) -> Page:  # fmt: skip
    """Events ``principal`` may see that match ``filters``; recorded (who, filters, rows, ``route``)
    before they are returned: StoreError if the record cannot be stored."""
    query = to_query(filters, principal, limit, check_cursor(cursor))
    events, next_cursor = search_audit(store.client, store.database, query)
    access_log.record(store, principal, route, "search", filters.as_json(), len(events))
    return Page(events, next_cursor)


def links(event: dict[str, Any]) -> dict[str, str]:
    """Query strings of the searches around ``event``: same request, same trace, this actor that
    day, this subject (only those the event has a value for)."""
    found: dict[str, dict[str, str]] = {}
    if event.get("request_id"):
        found["same_request"] = {"request_id": event["request_id"]}
    if event.get("trace_id"):
        found["same_trace"] = {"trace_id": event["trace_id"]}
    actor = event.get("actor_account_id") or event.get("actor_profile_id")
    if actor:
        day = datetime.fromisoformat(str(event["event_time"]).replace("Z", "+00:00")).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        found["actor_that_day"] = {
            "actor": actor, "since": day.isoformat().replace("+00:00", "Z"),
            "until": (day + timedelta(days=1)).isoformat().replace("+00:00", "Z"),
        }  # fmt: skip
    if event.get("subject_id"):
        found["this_subject"] = {"subject": event["subject_id"]}
    return {name: urllib.parse.urlencode(query) for name, query in found.items()}


def event_detail(
    store: Store, principal: Principal, event_id: uuid.UUID, route: str = "GET /v1/audit/events/{event_id}"
) -> dict[str, Any] | None:
    """Every field of one event ``principal`` may see, with :func:`links`; None if there is none.
    Recorded before it is returned (StoreError if the record cannot be stored)."""
    query = replace(to_query(Filters(), principal), event_id=event_id)
    found = audit_event(store.client, store.database, query)
    access_log.record(store, principal, route, "detail", json.dumps({"event_id": str(event_id)}), 1 if found else 0)
    return None if found is None else {"event": found, "links": links(found)}


@dataclass
class Export:
    """An export that has been recorded as started; iterate :meth:`chunks` to stream it."""

    store: Store
    principal: Principal
    filters: Filters
    fmt: Format
    route: str
    access_id: uuid.UUID
    rows: list[int] = field(default_factory=lambda: [0])

    def _pages(self, query: AuditQuery) -> Iterator[tuple[Any, ...]]:
        """The rows page by page (keyset), each page one short query: the engine serves others between
        them. The pages are read a window of time at a time (ccaudit.store.audit.time_window), each
        sized from the last one's rows to hold about a page: an export of 10M rows then reads each row
        about once, where pages over the whole range would each read what lies before their cursor."""
        upper, width = query.until, EXPORT_WINDOW
        while True:
            window, last = time_window(query, upper, width)
            rows = 0
            while True:
                events, cursor = search_audit(self.store.client, self.store.database, window)
                rows += len(events)
                for event in events:
                    yield tuple(event[column] for column in READ_COLUMNS)
                if cursor is None:
                    break
                window = replace(window, cursor=cursor)
            if last:
                return
            upper, width = window.since, next_width(width, rows, EXPORT_PAGE, 0.25)

    def chunks(self) -> Iterator[bytes]:
        """The export's bytes, read from the engine block by block; the row count is recorded at the end."""
        query = to_query(self.filters, self.principal, EXPORT_PAGE)
        if _embedded(self.store):
            yield from encode(self._pages(query), self.fmt, self.rows)
        else:
            with stream_audit(self.store.client, self.store.database, query) as rows:
                yield from encode(rows, self.fmt, self.rows)
        try:
            access_log.record(self.store, self.principal, self.route, "export", self.filters.as_json(),
                              self.rows[0], True, self.access_id)  # fmt: skip
        except StoreError as exc:  # the bytes are sent; the start record stands, without the count
            log.warning("the end of export %s could not be recorded: %s", self.access_id, exc)


def _embedded(store: Store) -> bool:
    # The embedded engine (chDB) serves one query at a time while a result is streamed: every other
    # read and ingest of the service would wait for the whole export (checked with chdb-core 26.9).
    return type(store.client).__module__.endswith("_chdbclient")


def open_export(
    store: Store, principal: Principal, filters: Filters, fmt: Format, route: str = "GET /v1/audit/export"
) -> Export:
    """An export of every event ``principal`` may see that matches ``filters``, newest first; its
    start is recorded now (StoreError if it cannot be: then nothing is exported)."""
    access_id = access_log.record(store, principal, route, "export", filters.as_json(), 0, False)
    return Export(store, principal, filters, fmt, route, access_id)
