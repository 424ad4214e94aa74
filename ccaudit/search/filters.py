"""The filters of an audit search, checked: from query-string parameters, or from the search box.

Every value a client sends is checked here before it reaches the engine, and then only as a bound
parameter: texts are at most :data:`LONGEST` characters without control characters, an action may
end in one ``*`` (a prefix), an IP is an address or a CIDR network, a status is 100 to 599, times
are inside :mod:`ccaudit.service.params`' window. A bad value raises
:class:`~ccaudit.service.params.BadParameter` naming the parameter.
"""

from __future__ import annotations

import ipaddress
import json
import unicodedata
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from ccaudit.access import Principal
from ccaudit.service import params
from ccaudit.service.params import BadParameter
from ccaudit.store.audit import AuditQuery, decode_cursor

OUTCOMES = ("success", "denied", "failed", "error", "aborted")
LONGEST = 256
# Terms of free text in one search: each is one more LIKE over the details, so they are bounded.
MAX_TERMS = 8
# A cursor this API makes is ~70 characters; anything much longer is not one, and is not decoded.
_MAX_CURSOR = 200

# Exact-match text filters: parameter name = Filters field.
TEXT_FILTERS = ("platform", "organisation", "actor", "subject", "resource_type", "resource_id", "request_id",
                "trace_id")  # fmt: skip
# Every filter a query string may carry (``q`` is the search box, see ccaudit.search.box).
FILTER_PARAMETERS = (*TEXT_FILTERS, "action", "outcome", "status", "ip", "text", "since", "until", "q")


@dataclass(frozen=True, slots=True)
class Filters:
    """What an auditor asks for; every field None (or empty) means "any"."""

    since: datetime | None = None
    until: datetime | None = None
    platform: str | None = None
    organisation: str | None = None
    actor: str | None = None
    subject: str | None = None
    action: str | None = None  # exact
    action_prefix: str | None = None  # from ``person.*``
    resource_type: str | None = None
    resource_id: str | None = None
    outcome: str | None = None
    status: int | None = None
    ip: str | None = None  # one address, canonical text
    cidr: str | None = None  # a network, canonical text
    request_id: str | None = None
    trace_id: str | None = None
    text: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        """The filters set, as JSON values: what the access log records and links are made of."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or value == ():
                continue
            if isinstance(value, datetime):
                value = value.isoformat()
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def as_json(self) -> str:
        return json.dumps(self.describe(), sort_keys=True, ensure_ascii=False)

    def merge(self, other: Filters) -> Filters:
        """Both sets of filters; one set twice (in the query string and in the box) is refused."""
        changes: dict[str, Any] = {}
        for f in fields(other):
            value = getattr(other, f.name)
            if value is None or value == ():
                continue
            if getattr(self, f.name) not in (None, ()):
                raise BadParameter(f.name, "given twice (as a parameter and in q)")
            changes[f.name] = value
        return replace(self, **changes)


def check_text(name: str, value: str) -> str:
    """``value`` if it can be a filter: at most LONGEST characters, no control characters."""
    if len(value) > LONGEST:
        raise BadParameter(name, f"longer than {LONGEST} characters")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
        raise BadParameter(name, "control characters are not allowed")
    return value


def parse_action(name: str, value: str) -> dict[str, str]:
    """An action, or a prefix of actions written with a final ``*`` (``person.*``)."""
    check_text(name, value)
    if "*" in value[:-1]:
        raise BadParameter(name, "'*' may only end an action (person.*)")
    return {"action_prefix": value[:-1]} if value.endswith("*") else {"action": value}


def parse_ip(name: str, value: str) -> dict[str, str]:
    """An IP address, or a CIDR network (host bits allowed: 10.1.2.3/8 is 10.0.0.0/8)."""
    check_text(name, value)
    try:
        if "/" in value:
            return {"cidr": str(ipaddress.ip_network(value, strict=False))}
        return {"ip": str(ipaddress.ip_address(value))}
    except ValueError:
        raise BadParameter(name, "an IP address or a CIDR network, e.g. 10.0.0.0/8") from None


def parse_status(name: str, value: str) -> int:
    return params.integer(name, value, 100, 599)


def parse_outcome(name: str, value: str) -> str:
    if value not in OUTCOMES:
        raise BadParameter(name, f"one of {', '.join(OUTCOMES)}")
    return value


def parse_filters(query: Mapping[str, str], also: Iterable[str] = ()) -> Filters:
    """Query-string parameters → Filters (``q``, the search box, included); BadParameter otherwise.
    A parameter given empty is left out (a blank form field).
    ``also``: other parameters the caller takes itself (limit, cursor, format), not refused here."""
    params.refuse_unknown(query, {*FILTER_PARAMETERS, *also})
    # An empty filter is no filter: what a form sends for a field left blank.
    query = {name: value for name, value in query.items() if value != "" or name not in FILTER_PARAMETERS}
    found: dict[str, Any] = {}
    for name in TEXT_FILTERS:
        if name in query:
            found[name] = check_text(name, query[name])
    if "action" in query:
        found.update(parse_action("action", query["action"]))
    if "ip" in query:
        found.update(parse_ip("ip", query["ip"]))
    if "outcome" in query:
        found["outcome"] = parse_outcome("outcome", query["outcome"])
    if "status" in query:
        found["status"] = parse_status("status", query["status"])
    if "text" in query and check_text("text", query["text"]).strip():
        found["text"] = (query["text"].strip(),)
    found["since"] = params.iso_time("since", query.get("since"))
    found["until"] = params.iso_time("until", query.get("until"))
    filters = Filters(**found)
    if "q" in query:
        from ccaudit.search.box import parse_box  # the box builds Filters too

        filters = filters.merge(parse_box(query["q"]))
    return filters


def event_id_of(raw: str) -> uuid.UUID | None:
    """The event id a path names, or None when it names none (a UUID is at most 40 characters here:
    longer text is refused before parsing)."""
    try:
        return uuid.UUID(raw) if len(raw) <= 40 else None
    except ValueError:
        return None


def check_cursor(cursor: str | None) -> str | None:
    """``cursor`` if it is one this API made (a page's ``next_cursor``); BadParameter otherwise."""
    if cursor is None:
        return None
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
    return cursor


def to_query(filters: Filters, principal: Principal | None, limit: int = 100, cursor: str | None = None) -> AuditQuery:
    """The store's query: the principal's bounds first (None: a direct read of the store by its
    owner, the command line without a service), then the filters."""
    return AuditQuery(
        since=filters.since, until=filters.until, platform=filters.platform, organisation=filters.organisation,
        actor=filters.actor, subject=filters.subject, action=filters.action, outcome=filters.outcome,
        request_id=filters.request_id, action_prefix=filters.action_prefix, resource_type=filters.resource_type,
        resource_id=filters.resource_id, status=filters.status, ip=filters.ip, cidr=filters.cidr,
        trace_id=filters.trace_id, text=filters.text, limit=limit, cursor=cursor,
        scope_organisations=principal.organisations if principal is not None else None,
        scope_platforms=principal.platforms if principal is not None else None,
    )  # fmt: skip
