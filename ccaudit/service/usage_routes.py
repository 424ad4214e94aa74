"""``GET /v1/usage/summary``: page views, visitors and top lists for a platform and a range of days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from ccaudit.errors import StoreError
from ccaudit.service.audit_routes import BadParameter
from ccaudit.service.auth import admin_authorised, store_failure, unauthorised
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.usage import UsageQuery

_KNOWN = {"platform", "since", "until", "page", "referrer", "top"}
MAX_DAYS = 400
DEFAULT_DAYS = 30


def _day(name: str, value: str | None, default: date) -> date:
    if value is None:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadParameter(name, "expected a date, e.g. 2026-11-29") from None


def parse_usage_query(params: dict[str, str], today: date) -> UsageQuery:
    unknown = sorted(set(params) - _KNOWN)
    if unknown:
        raise BadParameter(unknown[0], f"unknown parameter (known: {', '.join(sorted(_KNOWN))})")
    until = _day("until", params.get("until"), today)
    since = _day("since", params.get("since"), until - timedelta(days=DEFAULT_DAYS - 1))
    if since > until:
        raise BadParameter("since", "must not be after until")
    if (until - since).days >= MAX_DAYS:
        raise BadParameter("since", f"the range may span at most {MAX_DAYS} days")
    top = params.get("top", "10")
    if not top.isdigit() or not 1 <= int(top) <= 100:
        raise BadParameter("top", "an integer from 1 to 100")
    for name in ("platform", "page", "referrer"):
        if name in params and len(params[name]) > 1024:
            raise BadParameter(name, "longer than 1024 characters")
    return UsageQuery(
        since=since,
        until=until,
        platform=params.get("platform"),
        page=params.get("page"),
        referrer=params.get("referrer"),
        top=int(top),
    )


def make_summary_endpoint(settings: Settings, store: Store):  # type: ignore[no-untyped-def]
    async def summary(request: Request) -> JSONResponse:
        if not admin_authorised(request, settings):
            return unauthorised()
        try:
            query = parse_usage_query(dict(request.query_params), datetime.now(UTC).date())
        except BadParameter as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        try:
            body = await run_in_threadpool(store.summarise_usage, query)
        except StoreError as exc:
            return store_failure(exc)
        return JSONResponse(body)

    return summary
