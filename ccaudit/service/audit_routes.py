"""``GET /v1/audit/events``: search the audit trail, newest first, with keyset pagination."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from ccaudit.errors import StoreError
from ccaudit.service.auth import admin_authorised, store_failure, unauthorised
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.audit import AuditQuery, decode_cursor

_TEXT_FILTERS = ("platform", "organisation", "actor", "subject", "action", "request_id")
OUTCOMES = ("success", "denied", "failed", "error", "aborted")
_KNOWN = {*_TEXT_FILTERS, "outcome", "since", "until", "limit", "cursor"}


class BadParameter(ValueError):
    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")


def _time(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadParameter(name, "expected an ISO 8601 time, e.g. 2026-11-29T10:00:00Z") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_query(params: dict[str, str], max_page: int) -> AuditQuery:
    """Query-string parameters → AuditQuery, or BadParameter naming the parameter."""
    unknown = sorted(set(params) - _KNOWN)
    if unknown:
        raise BadParameter(unknown[0], f"unknown parameter (known: {', '.join(sorted(_KNOWN))})")
    for name in _TEXT_FILTERS:
        if name in params and len(params[name]) > 256:
            raise BadParameter(name, "longer than 256 characters")
    outcome = params.get("outcome")
    if outcome is not None and outcome not in OUTCOMES:
        raise BadParameter("outcome", f"one of {', '.join(OUTCOMES)}")
    raw_limit = params.get("limit", "100")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= max_page:
        raise BadParameter("limit", f"an integer from 1 to {max_page}")
    cursor = params.get("cursor")
    if cursor is not None:
        try:
            decode_cursor(cursor)
        except ValueError:
            raise BadParameter("cursor", "not a cursor returned by this API") from None
    return AuditQuery(
        since=_time("since", params.get("since")),
        until=_time("until", params.get("until")),
        outcome=outcome,
        limit=int(raw_limit),
        cursor=cursor,
        **{name: params.get(name) for name in _TEXT_FILTERS},
    )


def make_search_endpoint(settings: Settings, store: Store):  # type: ignore[no-untyped-def]
    async def search(request: Request) -> JSONResponse:
        if not admin_authorised(request, settings):
            return unauthorised()
        try:
            query = parse_query(dict(request.query_params), settings.max_page_size)
        except BadParameter as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        try:
            events, next_cursor = await run_in_threadpool(store.search_audit, query)
        except StoreError as exc:
            return store_failure(exc)
        return JSONResponse({"events": events, "next_cursor": next_cursor})

    return search
