"""The console's audit pages: search, event detail, export, saved searches, and the DPO's access log.

Every read of the audit trail goes through the query layer the API uses (``ccaudit.search``): the
same parser (filters and the search box), the same organisation and platform bounds taken from the
logged-in account's principal before any filter, and the same access record, stored before a row is
shown. A read whose access record cannot be stored is refused with a page that says so (503).

The access log page reads the access stream as ``GET /v1/access/events`` does, and like it is not
itself recorded there. A search page opened without any parameter shows the form only: nothing is
read (nor recorded) until a search is asked for.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ccaudit.access import AccountStore, Principal
from ccaudit.console.pages import Pages, Visitor, secure
from ccaudit.errors import AccessNotRecorded
from ccaudit.search import (
    FORMATS,
    MEDIA_TYPES,
    OUTCOMES,
    AccessQuery,
    BadParameter,
    BadQualifier,
    Format,
    access_log,
    check_cursor,
    event_detail,
    event_id_of,
    open_export,
    parse_filters,
    search,
)
from ccaudit.search.filters import check_text
from ccaudit.search.saved import SavedSearch, SavedSearches
from ccaudit.service import params
from ccaudit.store import Store

PAGE = 50  # rows per page of the console's search and access log
# The search form's fields, as /v1/audit/events names them; q is the search box.
FIELDS = ("q", "since", "until", "platform", "organisation", "actor", "subject", "action", "resource_type",
          "resource_id", "outcome", "status", "ip", "request_id", "trace_id", "text")  # fmt: skip
# A filter the parser names by what it became (``person.*`` → action_prefix) is shown on its field.
_FIELD_OF = {"action_prefix": "action", "cidr": "ip"}
RELATED = ("same_request", "same_trace", "actor_that_day", "this_subject")
ACCESS_FIELDS = ("since", "until", "username", "kind")
MAX_PARAMETERS = 32
ROUTE_SEARCH = "GET /console/search"
ROUTE_DETAIL = "GET /console/events/{event_id}"
ROUTE_EXPORT = "GET /console/export"
ROUTE_ACCESS = "GET /console/access"


def _single(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The query string as one value per name; a name given twice is refused rather than guessed at."""
    if len(pairs) > MAX_PARAMETERS:
        raise BadParameter("query", f"at most {MAX_PARAMETERS} parameters")
    found: dict[str, str] = {}
    for name, value in pairs:
        if name in found:
            raise BadParameter(name, "given more than once")
        found[name] = value
    return found


def search_link(query: str) -> str:
    """The console's address of a search's query string (``q=`` for "every event": a search is run)."""
    return f"/console/search?{query or 'q='}"


class SearchViews:
    def __init__(self, store: Store, accounts: AccountStore, pages: Pages) -> None:
        self.store = store
        self.accounts = accounts
        self.pages = pages
        self.saved = SavedSearches(store)

    # --- search --------------------------------------------------------------------------------------

    def _search_page(self, request: Request, status: int = 200, **context: Any) -> Response:
        visitor: Visitor = request.state.visitor
        entered = context.pop("entered", {})
        context.setdefault("events", None)
        context.setdefault("bad", None)
        context.setdefault("reason", None)
        context.setdefault("box_error", None)
        context.setdefault("query", None)
        context.setdefault("older_link", None)
        context.setdefault("newest_link", None)
        return self.pages.render(
            request, "search.html", status, filters={name: entered.get(name, "") for name in FIELDS},
            outcomes=OUTCOMES, csrf=visitor.session.csrf_token, **context,
        )  # fmt: skip

    def _refused(self, request: Request, entered: dict[str, str], exc: BadParameter) -> Response:
        """The search page with the bad value pointed at: the box's qualifier, or the field, or the
        parameter's name when no field of the form carries it (a hand-made address)."""
        if isinstance(exc, BadQualifier):
            box = {"position": exc.position + 1, "qualifier": exc.qualifier, "reason": exc.detail}
            return self._search_page(request, 400, entered=entered, box_error=box)
        field = _FIELD_OF.get(exc.name, exc.name)
        if field == "q":  # the box as a whole (too long, too many terms)
            box = {"position": None, "qualifier": None, "reason": exc.reason}
            return self._search_page(request, 400, entered=entered, box_error=box)
        return self._search_page(request, 400, entered=entered, bad=field if field in FIELDS else "",
                                 reason={"name": exc.name, "text": exc.reason})  # fmt: skip

    def _refused_access(self, request: Request) -> Response:
        return self.pages.problem(request, 503, "access_refused_title", "access_refused_text")

    async def search(self, request: Request) -> Response:
        visitor: Visitor = request.state.visitor
        pairs = request.query_params.multi_items()
        if not pairs:
            return self._search_page(request)
        entered = {name: value[:2000] for name, value in pairs if name in FIELDS}
        try:
            query = _single(pairs)
            filters = parse_filters(query, ("cursor",))
            cursor = query.get("cursor") or None
            page = await run_in_threadpool(search, self.store, visitor.principal, filters, PAGE, cursor, ROUTE_SEARCH)
        except BadParameter as exc:
            return self._refused(request, entered, exc)
        except AccessNotRecorded:
            return self._refused_access(request)
        base = urlencode({name: value for name, value in query.items() if name in FIELDS and value != ""})
        older = f"{search_link(base)}&{urlencode({'cursor': page.next_cursor})}" if page.next_cursor else None
        rows = [{**e, "link": f"/console/events/{e['event_id']}"} for e in page.events]
        return self._search_page(request, entered=entered, events=rows, query=base, older_link=older,
                                 newest_link=search_link(base) if cursor else None)  # fmt: skip

    # --- one event -----------------------------------------------------------------------------------

    async def event(self, request: Request) -> Response:
        visitor: Visitor = request.state.visitor
        event_id = event_id_of(request.path_params["event_id"])
        if event_id is None:
            return self.pages.problem(request, 404, "not_found_title", "no_event")
        try:
            found = await run_in_threadpool(event_detail, self.store, visitor.principal, event_id, ROUTE_DETAIL)
        except AccessNotRecorded:
            return self._refused_access(request)
        if found is None:
            return self.pages.problem(request, 404, "not_found_title", "no_event")
        links = [(key, search_link(found["links"][key])) for key in RELATED if key in found["links"]]
        event: dict[str, Any] = found["event"]
        return self.pages.render(request, "event.html", event=event, fields=list(event.items()), links=links)

    # --- export --------------------------------------------------------------------------------------

    async def export(self, request: Request) -> Response:
        visitor: Visitor = request.state.visitor
        pairs = request.query_params.multi_items()
        entered = {name: value[:2000] for name, value in pairs if name in FIELDS}
        try:
            query = _single(pairs)
            fmt = query.pop("format", "csv")
            if fmt not in FORMATS:
                raise BadParameter("format", f"one of {', '.join(FORMATS)}")
            chosen: Format = "csv" if fmt == "csv" else "jsonl"
            filters = parse_filters(query)
            started = await run_in_threadpool(open_export, self.store, visitor.principal, filters, chosen,
                                              ROUTE_EXPORT)  # fmt: skip
        except BadParameter as exc:
            return self._refused(request, entered, exc)
        except AccessNotRecorded:
            return self._refused_access(request)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        headers = {"Content-Disposition": f'attachment; filename="audit-{stamp}.{chosen}"'}
        # A sync iterator: Starlette reads it in a worker thread, one chunk at a time (constant memory).
        return secure(StreamingResponse(started.chunks(), media_type=MEDIA_TYPES[chosen], headers=headers))

    # --- saved searches ------------------------------------------------------------------------------

    async def _saved_page(self, request: Request, status: int = 200, **context: Any) -> Response:
        visitor: Visitor = request.state.visitor
        searches: list[SavedSearch] = await run_in_threadpool(self.saved.list, visitor.account.account_id)
        rows = [{"search": s, "link": search_link(s.query), "filters": parse_qsl(s.query)} for s in searches]
        context.setdefault("message", None)
        context.setdefault("bad", None)
        context.setdefault("entered", None)
        return self.pages.render(request, "saved.html", status, searches=rows, csrf=visitor.session.csrf_token,
                                 **context)  # fmt: skip

    async def saved_list(self, request: Request) -> Response:
        return await self._saved_page(request)

    async def save(self, request: Request) -> Response:
        visitor: Visitor = request.state.visitor
        form: dict[str, str] = request.state.form
        name, query = form.get("name", "")[:1000], form.get("query", "")[:5000]
        try:
            made = await run_in_threadpool(self.saved.create, visitor.account.account_id, name, query)
        except BadParameter as exc:
            bad = {"field": "name" if exc.name == "name" else "query", "text": exc.reason}
            return await self._saved_page(request, 400, bad=bad, entered={"name": name, "query": query})
        return await self._saved_page(request, 201, message=("saved_made", {"name": made.name}))

    async def delete_saved(self, request: Request) -> Response:
        visitor: Visitor = request.state.visitor
        search_id = request.path_params["search_id"][:64]
        done = await run_in_threadpool(self.saved.delete, visitor.account.account_id, search_id)
        if done is None:
            return self.pages.problem(request, 404, "not_found_title", "not_found_text")
        return await self._saved_page(request, message=("saved_deleted", {"name": done.name}))

    # --- the access log (DPO) ------------------------------------------------------------------------

    def _access_records(
        self, who: Principal, wanted: AccessQuery, username: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        if username is not None:
            account = self.accounts.by_username(username)
            if account is None:  # nothing to read; the question is recorded all the same
                access_log.record(self.store, who, ROUTE_ACCESS, "access_log", json.dumps({"username": username}), 0)
                return [], None
            wanted = AccessQuery(wanted.since, wanted.until, None, account.account_id, wanted.kind, wanted.limit,
                                 wanted.cursor)  # fmt: skip
        records, next_cursor = access_log.read_recorded(self.store, who, ROUTE_ACCESS, wanted)
        names = {a.account_id: a.username for a in self.accounts.list_accounts()}
        for record in records:
            record["username"] = names.get(record["account_id"], "")
            record["filters_shown"] = _filters_text(record["filters"])
        return records, next_cursor

    async def access(self, request: Request) -> Response:
        pairs = request.query_params.multi_items()
        entered = {name: value[:2000] for name, value in pairs if name in ACCESS_FIELDS}
        shown = {name: entered.get(name, "") for name in ACCESS_FIELDS}
        try:
            query = {name: value for name, value in _single(pairs).items() if value != ""}
            params.refuse_unknown(query, (*ACCESS_FIELDS, "cursor"))
            kind = query.get("kind")
            if kind is not None and kind not in access_log.KINDS:
                raise BadParameter("kind", f"one of {', '.join(access_log.KINDS)}")
            username = check_text("username", query["username"]).strip().lower() if "username" in query else None
            wanted = AccessQuery(
                since=params.iso_time("since", query.get("since")), until=params.iso_time("until", query.get("until")),
                kind=kind, limit=PAGE, cursor=check_cursor(query.get("cursor")),
            )  # fmt: skip
        except BadParameter as exc:
            bad = exc.name if exc.name in ACCESS_FIELDS else ""
            return self.pages.render(request, "access.html", 400, filters=shown, kinds=access_log.KINDS, bad=bad,
                                     reason={"name": exc.name, "text": exc.reason}, records=None, older_link=None,
                                     newest_link=None)  # fmt: skip
        visitor: Visitor = request.state.visitor
        try:
            records, next_cursor = await run_in_threadpool(self._access_records, visitor.principal, wanted, username)
        except AccessNotRecorded:
            return self._refused_access(request)
        base = urlencode({name: value for name, value in query.items() if name in ACCESS_FIELDS})
        more = urlencode({"cursor": next_cursor}) if next_cursor else None
        older = f"/console/access?{base}{'&' if base else ''}{more}" if more else None
        newest = f"/console/access?{base}" if wanted.cursor else None
        return self.pages.render(request, "access.html", filters=shown, kinds=access_log.KINDS, bad=None,
                                 reason=None, records=records, older_link=older, newest_link=newest)  # fmt: skip


def _filters_text(filters: str) -> str:
    """An access record's filters as ``name=value`` pairs, for reading (they are stored as JSON)."""
    try:
        found = json.loads(filters)
    except ValueError:
        return filters
    if not isinstance(found, dict):
        return filters
    return "; ".join(f"{name}={json.dumps(value, ensure_ascii=False)}" for name, value in sorted(found.items()))
