"""The access stream: every search, detail view and export of the audit trail, recorded (R6), and
every reading of the stream itself (its records name who searched for whom).

Rows of ``<db>.access_events`` (migration 0007): who read (the principal's label, kind, account and
role), when, through which route, what kind of read, with which filters (JSON) and how many rows.
:func:`record` raises StoreError when the row cannot be stored, and the read is then refused: the
callers in :mod:`ccaudit.search.reads` record before they hand any row over.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from ccaudit.access import Principal
from ccaudit.errors import AccessNotRecorded, StoreError
from ccaudit.store import Store
from ccaudit.store.audit import decode_cursor, encode_cursor
from ccaudit.store.client import insert_rows, jsonable, query_rows

Kind = Literal["search", "detail", "export", "access_log"]
KINDS = ("search", "detail", "export", "access_log")
COLUMNS = ("access_id", "event_time", "principal", "principal_kind", "account_id", "role", "route", "kind",
           "filters", "rows", "complete")  # fmt: skip


def record(
    store: Store,
    principal: Principal,
    route: str,
    kind: Kind,
    filters: str,
    rows: int,
    complete: bool = True,
    access_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Store one access record (``filters``: JSON text); its id. Raises AccessNotRecorded (a
    StoreError) if it is not stored, so a caller can tell the refusal from a failed read."""
    access_id = access_id or uuid.uuid4()
    account = principal.subject if principal.kind in ("account", "personal_token") else ""
    role = principal.role.value if principal.role is not None else ""
    row = [access_id, datetime.now(UTC), principal.label, principal.kind, account, role, route, kind, filters, rows,
           complete]  # fmt: skip
    try:
        insert_rows(store.client, store.database, "access_events", [row], COLUMNS)
    except StoreError as exc:
        raise AccessNotRecorded(f"the access record could not be stored: {exc}") from exc
    return access_id


@dataclass(frozen=True, slots=True)
class AccessQuery:
    """Filters of the DPO's reading of the access stream."""

    since: datetime | None = None
    until: datetime | None = None
    principal: str | None = None  # a label, e.g. "personal_token:<account id>"
    account_id: str | None = None
    kind: str | None = None
    limit: int = 100
    cursor: str | None = None


def read_recorded(
    store: Store, principal: Principal, route: str, query: AccessQuery
) -> tuple[list[dict[str, Any]], str | None]:
    """``read``, recorded as a read of the access stream before any record is handed over; raises
    AccessNotRecorded when that record cannot be stored (the read is then refused)."""
    records, next_cursor = read(store, query)
    filters = {k: jsonable(v) for k, v in asdict(query).items() if v is not None and k != "limit"}
    record(store, principal, route, "access_log", json.dumps(filters, sort_keys=True), len(records))
    return records, next_cursor


def read(store: Store, query: AccessQuery) -> tuple[list[dict[str, Any]], str | None]:
    """Access records matching ``query``, newest first, and the next page's cursor (None at the end)."""
    clauses: list[str] = []
    params: dict[str, Any] = {"limit": query.limit + 1}
    for column, value in (("principal", query.principal), ("account_id", query.account_id), ("kind", query.kind)):
        if value is not None:
            clauses.append(f"{column} = {{{column}:String}}")
            params[column] = value
    if query.since is not None:
        clauses.append("event_time >= {since:DateTime64(3, 'UTC')}")
        params["since"] = query.since
    if query.until is not None:
        clauses.append("event_time < {until:DateTime64(3, 'UTC')}")
        params["until"] = query.until
    if query.cursor is not None:
        c_time, c_id = decode_cursor(query.cursor)
        clauses.append("(event_time, access_id) < ({c_time:DateTime64(3, 'UTC')}, {c_id:UUID})")
        params.update(c_time=c_time, c_id=c_id)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    sql = (
        f"SELECT {', '.join(COLUMNS)} FROM {store.database}.access_events{where} "
        "ORDER BY event_time DESC, access_id DESC LIMIT {limit:UInt32}"
    )
    rows = [dict(zip(COLUMNS, row, strict=True)) for row in query_rows(store.client, sql, params)]
    next_cursor = None
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        next_cursor = encode_cursor(rows[-1]["event_time"], rows[-1]["access_id"])
    return [{k: jsonable(v) for k, v in row.items()} for row in rows], next_cursor
