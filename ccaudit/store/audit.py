"""Writing and searching the audit table. Every value is a bound parameter; identifiers are fixed."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from clickhouse_connect.driver.client import Client

from ccaudit.store.client import insert_columns, jsonable, mapped_errors, query_rows
from ccaudit.store.restricted import clause

COLUMNS = (
    "event_id", "event_time", "received_at", "platform", "organisation", "actor_account_id",
    "actor_profile_id", "actor_role", "admin_operation", "subject_id", "action", "route",
    "resource_type", "resource_id", "method", "status", "outcome", "duration_ms", "client_ip",
    "peer_ip", "user_agent", "browser", "browser_version", "os", "device", "is_bot", "request_id",
    "trace_id", "span_id", "details", "retention_days", "payload_sha256",
)  # fmt: skip

# The details' values as one lower-case text, each on its own line: what a free-text search matches
# and what the ngram skip index of migration 0007 is built on (the two must be the same expression).
DETAILS_TEXT = "lowerUTF8(arrayStringConcat(mapValues(details), '\\n'))"

# Returned by the read API; retention and the payload digest are bookkeeping, not part of the event.
READ_COLUMNS = tuple(c for c in COLUMNS if c not in ("retention_days", "payload_sha256"))


def insert_audit(client: Client, database: str, columns: Sequence[Sequence[Any]]) -> None:
    """Insert column-oriented data, one sequence per name in COLUMNS."""
    insert_columns(client, database, "audit_events", columns, COLUMNS)


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of an audit search. ``actor`` matches the account id or the profile id."""

    since: datetime | None = None
    until: datetime | None = None
    platform: str | None = None
    organisation: str | None = None
    actor: str | None = None
    subject: str | None = None
    action: str | None = None
    outcome: str | None = None
    request_id: str | None = None
    # Search filters (ccaudit.search builds them from checked input): ``action_prefix`` matches
    # actions that start with it ("person." for ``person.*``); ``cidr`` is a network in canonical
    # text ("10.0.0.0/8"); ``ip`` an address in canonical text; each term of ``text`` must occur,
    # in any case, in one of the details' values.
    action_prefix: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    status: int | None = None
    ip: str | None = None
    cidr: str | None = None
    trace_id: str | None = None
    event_id: UUID | None = None
    text: tuple[str, ...] = ()
    limit: int = 100
    cursor: str | None = None
    # Bounds from the principal (ccaudit.access), applied before any filter: None = no bound, an
    # empty set = nothing. A filter from the request can only narrow within them.
    scope_organisations: frozenset[str] | None = None
    scope_platforms: frozenset[str] | None = None


def encode_cursor(event_time: datetime, event_id: UUID) -> str:
    ms = int(event_time.replace(tzinfo=UTC).timestamp() * 1000)
    return base64.urlsafe_b64encode(f"{ms}:{event_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    """Raises ValueError for anything that is not a cursor this API issued."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ms, _, event_id = raw.partition(":")
        return datetime.fromtimestamp(int(ms) / 1000, UTC), UUID(event_id)
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        raise ValueError("invalid cursor") from None


# Keys whose events audit_keys (migration 0020) points at, most selective first: a search naming
# one reads that key's pointers there instead of scanning audit_events for it.
_POINTER_KEYS = (("request", "request_id"), ("trace", "trace_id"))
# Keys that name people, most selective first: a search naming one reads audit_by_person (migration
# 0038), the events filed under that person, instead of audit_events.
_PERSON_KEYS = (("subject", "subject"), ("actor", "actor"))
_NOTHING = AuditQuery(limit=0)


def _source(query: AuditQuery, database: str) -> tuple[str, str, str, dict[str, Any]]:
    """Where a search reads: (table, a clause or '', the ORDER BY's dedup or '', parameters).

    audit_events with FINAL, unless the search names a person and no request or trace id: then the
    events filed under that person, one row per event id (LIMIT 1 BY, before any LIMIT). Erasure
    files an erased person's rows there under their pseudonym (ccaudit.rights.rekey), as ingest does
    with a late arrival's.
    """
    named = [(kind, getattr(query, field)) for kind, field in _PERSON_KEYS if getattr(query, field) is not None]
    if not named or _keyed(query, database, paged=False) is not None:
        return f"{database}.audit_events FINAL", "", "", {}
    kind, value = named[0]
    clause = "kind = {person_kind:String} AND key = {person_key:String}"
    return f"{database}.audit_by_person", clause, " LIMIT 1 BY event_id", {"person_kind": kind, "person_key": value}


def _keyed(query: AuditQuery, database: str, paged: bool) -> tuple[str, dict[str, Any]] | None:
    """The clause that narrows a search naming a request or trace id to its events' places in the
    sorting key.

    audit_keys also holds each event's platform, organisation and time, so the principal's bounds,
    those filters and the cursor apply there too; when nothing else filters, the subquery returns
    just the page's events (newest first, one more than the page).
    """
    keys = [(kind, getattr(query, field)) for kind, field in _POINTER_KEYS if getattr(query, field) is not None]
    if not keys:
        return None
    kind, value = keys[0]
    clauses = ["kind = {key_kind:String}", "key = {key_value:String}"]
    if query.scope_organisations is not None:
        clauses.append("organisation IN {scope_orgs:Array(String)}")
    if query.scope_platforms is not None:
        clauses.append("platform IN {scope_platforms:Array(String)}")
    if query.platform is not None:
        clauses.append("platform = {platform:String}")
    if query.organisation is not None:
        clauses.append("organisation = {organisation:String}")
    if query.since is not None:
        clauses.append("event_time >= {since:DateTime64(3, 'UTC')}")
    if query.until is not None:
        clauses.append("event_time < {until:DateTime64(3, 'UTC')}")
    if query.cursor is not None:
        clauses.append("(event_time, event_id) < ({c_time:DateTime64(3, 'UTC')}, {c_id:UUID})")
    # With filters audit_keys cannot apply, every pointer of the key is needed, not a page's worth.
    unset: dict[str, Any] = {_FIELD[kind]: None}
    others = replace(query, since=None, until=None, platform=None, organisation=None, cursor=None,
                     scope_organisations=None, scope_platforms=None, limit=0, **unset)  # fmt: skip
    page = " ORDER BY event_time DESC, event_id DESC LIMIT {limit:UInt32}" if paged and others == _NOTHING else ""
    clause = (
        "(platform, organisation, event_time, event_id) IN (SELECT platform, organisation, event_time, event_id "
        f"FROM {database}.audit_keys WHERE {' AND '.join(clauses)}{page})"
    )
    return clause, {"key_kind": kind, "key_value": value}


_FIELD = dict(_POINTER_KEYS)


def _read(query: AuditQuery, database: str, paged: bool = False) -> tuple[str, str, str, dict[str, Any]]:
    """FROM's table, the WHERE clause (with the rule of restriction), what follows ORDER BY before
    any LIMIT, and the parameters of a read of ``query``."""
    table, person, dedup, person_params = _source(query, database)
    where, params = _where(query, database, paged)
    if person:
        where = f"{where} AND {person}" if where else f" WHERE {person}"
    return table, _unrestricted(where, database), dedup, {**params, **person_params}


def _where(query: AuditQuery, database: str, paged: bool = False) -> tuple[str, dict[str, Any]]:
    """The WHERE clause and its parameters; ``paged``: the query ends in LIMIT {limit}, one page."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    keyed = _keyed(query, database, paged)
    if keyed is not None:
        clauses.append(keyed[0])
        params.update(keyed[1])
    if query.scope_organisations is not None:
        clauses.append("organisation IN {scope_orgs:Array(String)}")
        params["scope_orgs"] = sorted(query.scope_organisations)
    if query.scope_platforms is not None:
        clauses.append("platform IN {scope_platforms:Array(String)}")
        params["scope_platforms"] = sorted(query.scope_platforms)
    simple = {
        "platform": query.platform,
        "organisation": query.organisation,
        "subject_id": query.subject,
        "action": query.action,
        "outcome": query.outcome,
        "request_id": query.request_id,
        "resource_type": query.resource_type,
        "resource_id": query.resource_id,
        "trace_id": query.trace_id,
        "client_ip": query.ip,
    }
    for column, value in simple.items():
        if value is not None:
            clauses.append(f"{column} = {{{column}:String}}")
            params[column] = value
    if query.actor is not None:
        # One array, so that one skip index (migration 0009) serves both ids; an OR of two indexes skips little.
        clauses.append("has([actor_account_id, actor_profile_id], {actor:String})")
        params["actor"] = query.actor
    if query.action_prefix is not None:
        clauses.append("startsWith(action, {action_prefix:String})")
        params["action_prefix"] = query.action_prefix
    if query.status is not None:
        clauses.append("status = {status:UInt16}")
        params["status"] = query.status
    if query.event_id is not None:
        clauses.append("event_id = {event_id:UUID}")
        params["event_id"] = query.event_id
    if query.cidr is not None:
        # isIPAddressInRange raises on a text that is no address (an event captured without an IP
        # stores ''), so such rows are given an address that the validity test then rules out.
        clauses.append(
            "((isIPv4String(client_ip) OR isIPv6String(client_ip)) AND isIPAddressInRange("
            "if(isIPv4String(client_ip) OR isIPv6String(client_ip), client_ip, '0.0.0.0'), {cidr:String}))"
        )
        params["cidr"] = query.cidr
    for n, term in enumerate(query.text):
        # The same expression as the ngram index on the details' values (migration 0007), so the
        # index can skip granules; LIKE's wildcards in the term are escaped: it is matched as written.
        clauses.append(f"{DETAILS_TEXT} LIKE concat('%', lowerUTF8({{text_{n}:String}}), '%')")
        params[f"text_{n}"] = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if query.since is not None:
        clauses.append("event_time >= {since:DateTime64(3, 'UTC')}")
        params["since"] = query.since
    if query.until is not None:
        clauses.append("event_time < {until:DateTime64(3, 'UTC')}")
        params["until"] = query.until
    if query.cursor is not None:
        cursor_time, cursor_id = decode_cursor(query.cursor)
        clauses.append("(event_time, event_id) < ({c_time:DateTime64(3, 'UTC')}, {c_id:UUID})")
        params["c_time"] = cursor_time
        params["c_id"] = cursor_id
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _unrestricted(where: str, database: str) -> str:
    """``where`` and the rule of restriction (art. 18): rows naming a restricted subject are kept but
    never read (ccaudit.rights.restrict)."""
    rule = clause(database, ("actor_account_id", "actor_profile_id", "subject_id"), ("P2", "P3"))
    return f"{where} AND {rule}" if where else f" WHERE {rule}"


# Searches and exports read a window of time at a time, newest first. A newest-first page over the
# whole range opens every part of the table (audit_events is sorted by platform and organisation
# first, audit_by_person by person), while a window keeps to the parts of its time, so a page found
# in the last days never reads the years before. The first window of a search is a week; each next
# one is sized from what the last held; past MAX_WINDOW a window reaches back to the oldest event.
FIRST_WINDOW = timedelta(days=7)
MAX_WINDOW = timedelta(days=3660)


def time_window(query: AuditQuery, upper: datetime | None, width: timedelta) -> tuple[AuditQuery, bool]:
    """``query`` bounded to the ``width`` before ``upper`` (exclusive; None: now, and nothing above),
    and whether this is its last window (it reaches the query's own lower bound, or all the way)."""
    start = (upper or datetime.now(UTC)) - width
    if (query.since is not None and start <= query.since) or (query.since is None and width >= MAX_WINDOW):
        return replace(query, until=upper), True
    return replace(query, since=start, until=upper), False


def next_width(width: timedelta, found: int, wanted: int, least: float) -> timedelta:
    """The next window's width: about ``wanted`` rows at the density of the last window (``found``
    rows), between ``least`` and 16 times the last width."""
    return width * min(16.0, max(least, wanted / max(found, 1)))


def _fetch(client: Client, database: str, query: AuditQuery, n: int) -> list[dict[str, Any]]:
    """Up to ``n`` events matching ``query``, newest first."""
    table, where, dedup, params = _read(query, database, paged=True)
    params["limit"] = n
    sql = (
        f"SELECT {', '.join(READ_COLUMNS)} FROM {table}{where} "
        f"ORDER BY event_time DESC, event_id DESC{dedup} LIMIT {{limit:UInt32}}"
    )
    return [dict(zip(READ_COLUMNS, row, strict=True)) for row in query_rows(client, sql, params)]


def search_audit(client: Client, database: str, query: AuditQuery) -> tuple[list[dict[str, Any]], str | None]:
    """Events matching ``query``, newest first, and the cursor of the next page (None at the end).

    FINAL (or LIMIT 1 BY) makes the read see each event once even before merges collapse redeliveries.
    A search naming a request or trace id, a CIDR or free text reads in one query; any other reads
    windows of time (see FIRST_WINDOW) until the page is full.
    """
    wanted = query.limit + 1  # one more than the page: is there a next one?
    # By request or trace id: the pointers. By CIDR or free text: one pass, as windows would read the
    # same columns of the range in several (measured: 1.5-1.8 times a single pass at 10M events).
    if _keyed(query, database, paged=False) is not None or query.cidr is not None or query.text:
        rows = _fetch(client, database, query, wanted)
    else:
        rows = []
        upper = query.until
        if query.cursor is not None:  # nothing at or after the cursor's millisecond's end is wanted
            after = decode_cursor(query.cursor)[0] + timedelta(milliseconds=1)
            upper = after if upper is None else min(upper, after)
        width = FIRST_WINDOW
        while True:
            window, last = time_window(query, upper, width)
            found = _fetch(client, database, window, wanted - len(rows))
            rows += found
            if last or len(rows) >= wanted:
                break
            upper, width = window.since, next_width(width, len(found), wanted - len(rows), 2.0)
    next_cursor = None
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        last_row = rows[-1]
        next_cursor = encode_cursor(last_row["event_time"], last_row["event_id"])
    return [{key: jsonable(value) for key, value in row.items()} for row in rows], next_cursor


def audit_event(client: Client, database: str, query: AuditQuery) -> dict[str, Any] | None:
    """The one event ``query`` finds (it names an ``event_id``), every column of it; None if none."""
    table, where, _, params = _read(query, database)
    sql = f"SELECT {', '.join(COLUMNS)} FROM {table}{where} LIMIT 1"
    rows = query_rows(client, sql, params)
    return {k: jsonable(v) for k, v in zip(COLUMNS, rows[0], strict=True)} if rows else None


# The engine sorts an export (newest first is not the table's order) on disk past this many bytes,
# so an export of any size holds a bounded amount of memory in the engine (in-process with chDB).
EXPORT_SORT_BYTES = 64 * 1024 * 1024


@contextmanager
def stream_audit(client: Client, database: str, query: AuditQuery) -> Iterator[Iterator[Sequence[Any]]]:
    """Every event matching ``query`` (its limit ignored), newest first, as rows of READ_COLUMNS,
    read block by block: memory stays flat whatever the number of rows."""
    table, where, dedup, params = _read(query, database)
    sql = f"SELECT {', '.join(READ_COLUMNS)} FROM {table}{where} ORDER BY event_time DESC, event_id DESC{dedup}"
    settings = {"max_bytes_before_external_sort": EXPORT_SORT_BYTES, "max_block_size": 8192}
    with mapped_errors(), client.query_rows_stream(sql, parameters=params, settings=settings) as stream:
        yield iter(stream)
