"""Writing and searching the audit table. Every value is a bound parameter; identifiers are fixed."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from clickhouse_connect.driver.client import Client

from ccaudit.store.client import insert_columns, jsonable, query_rows

COLUMNS = (
    "event_id", "event_time", "received_at", "platform", "organisation", "actor_account_id",
    "actor_profile_id", "actor_role", "admin_operation", "subject_id", "action", "route",
    "resource_type", "resource_id", "method", "status", "outcome", "duration_ms", "client_ip",
    "peer_ip", "user_agent", "browser", "browser_version", "os", "device", "is_bot", "request_id",
    "trace_id", "span_id", "details", "retention_days", "payload_sha256",
)  # fmt: skip

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


def _where(query: AuditQuery) -> tuple[str, dict[str, Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
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
    }
    for column, value in simple.items():
        if value is not None:
            clauses.append(f"{column} = {{{column}:String}}")
            params[column] = value
    if query.actor is not None:
        clauses.append("(actor_account_id = {actor:String} OR actor_profile_id = {actor:String})")
        params["actor"] = query.actor
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


def search_audit(client: Client, database: str, query: AuditQuery) -> tuple[list[dict[str, Any]], str | None]:
    """Events matching ``query``, newest first, and the cursor of the next page (None at the end).

    FINAL makes the read see each event once even before background merges collapse redeliveries.
    """
    where, params = _where(query)
    params["limit"] = query.limit + 1
    sql = (
        f"SELECT {', '.join(READ_COLUMNS)} FROM {database}.audit_events FINAL{where} "
        "ORDER BY event_time DESC, event_id DESC LIMIT {limit:UInt32}"
    )
    rows = [dict(zip(READ_COLUMNS, row, strict=True)) for row in query_rows(client, sql, params)]
    next_cursor = None
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        last = rows[-1]
        next_cursor = encode_cursor(last["event_time"], last["event_id"])
    return [{key: jsonable(value) for key, value in row.items()} for row in rows], next_cursor
