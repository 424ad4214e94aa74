"""The search box: one line of free text and qualifiers, parsed into :class:`Filters`.

    actor:anna action:person.* ip:10.0.0.0/8 created:>=2026-11-01 "free text"

- ``name:value`` is a qualifier; the value runs to the next space, or is quoted (``actor:"a b"``).
  Names: ``actor``, ``subject``, ``action`` (``person.*`` is a prefix), ``platform``, ``org`` or
  ``organisation``, ``resource`` or ``resource_type``, ``resource_id``, ``outcome``, ``status``,
  ``ip`` (an address or a CIDR network), ``request`` or ``request_id``, ``trace`` or ``trace_id``,
  ``created`` (``>=``, ``>``, ``<=``, ``<`` followed by a date or an ISO 8601 time, a day alone,
  or a range ``2026-11-01..2026-11-30`` whose days are inclusive), ``since`` and ``until``.
- Any other word, or a quoted phrase, is free text: each must occur (in any case) in one of the
  event's details' values. At most eight.
- Each qualifier once. A word like ``name:value`` whose name is not one of the above is refused (quote
  it to search for it as text).

A bad qualifier raises :class:`BadQualifier`: a BadParameter for ``q`` carrying the position (from 0)
and the text of the qualifier, so the answer can point at it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from ccaudit.search.filters import MAX_TERMS, Filters, check_text, parse_action, parse_ip, parse_outcome, parse_status
from ccaudit.service import params
from ccaudit.service.params import BadParameter

MAX_BOX = 2000
_NAME = re.compile(r"([A-Za-z_]+):")
# Qualifier → the filter it sets (created sets since and until itself).
ALIASES = {
    "actor": "actor", "subject": "subject", "action": "action", "platform": "platform", "org": "organisation",
    "organisation": "organisation", "organization": "organisation", "resource": "resource_type",
    "resource_type": "resource_type", "resource_id": "resource_id", "outcome": "outcome", "status": "status",
    "ip": "ip", "request": "request_id", "request_id": "request_id", "trace": "trace_id", "trace_id": "trace_id",
    "created": "created", "since": "since", "until": "until",
}  # fmt: skip


class BadQualifier(BadParameter):
    """A part of the search box that cannot be a filter: where it starts (0-based) and its text."""

    def __init__(self, position: int, qualifier: str, reason: str) -> None:
        shown = qualifier if len(qualifier) <= 80 else qualifier[:77] + "..."
        super().__init__("q", f"at character {position + 1}, {shown!r}: {reason}")
        self.position = position
        self.qualifier = qualifier
        self.detail = reason  # what is wrong with it, without where (a page shows where on its own)


def _end_of_word(text: str, i: int) -> int:
    while i < len(text) and not text[i].isspace():
        i += 1
    return i


def _quoted(text: str, start: int, i: int) -> tuple[str, int]:
    """The quoted value opening at ``i``, and where the text goes on."""
    close = text.find('"', i + 1)
    if close < 0:
        raise BadQualifier(start, text[start:], "a quote is not closed")
    return text[i + 1 : close], close + 1


def _moment(name: str, value: str, after: bool) -> datetime:
    """A time from ``value``; ``after``: the first moment after it (a date: the next day)."""
    moment = params.iso_time(name, value)
    assert moment is not None
    if after:
        moment += timedelta(days=1) if len(value) == 10 else timedelta(milliseconds=1)
    return moment


def _created(value: str) -> dict[str, datetime]:
    for op, key, after in ((">=", "since", False), ("<=", "until", True), (">", "since", True), ("<", "until", False)):
        if value.startswith(op):
            return {key: _moment("created", value[len(op) :], after)}
    if ".." in value:
        first, _, last = value.partition("..")
        return {"since": _moment("created", first, False), "until": _moment("created", last, True)}
    return {"since": _moment("created", value, False), "until": _moment("created", value, True)}


def _qualifier(name: str, value: str) -> dict[str, Any]:
    """The filters one qualifier sets; BadParameter naming the qualifier otherwise."""
    if value == "":
        raise BadParameter(name, "a value is needed after the colon")
    target = ALIASES[name]
    if target == "action":
        return parse_action(name, value)
    if target == "ip":
        return parse_ip(name, value)
    if target == "outcome":
        return {"outcome": parse_outcome(name, value)}
    if target == "status":
        return {"status": parse_status(name, value)}
    if target == "created":
        return _created(check_text(name, value))
    if target in ("since", "until"):
        return {target: params.iso_time(name, check_text(name, value))}
    return {target: check_text(name, value)}


def parse_box(text: str) -> Filters:
    """The search box's text → Filters; BadQualifier (or BadParameter for ``q``) otherwise."""
    if len(text) > MAX_BOX:
        raise BadParameter("q", f"longer than {MAX_BOX} characters")
    found: dict[str, Any] = {}
    terms: list[str] = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        start = i
        match = _NAME.match(text, i)
        if match is None:
            if text[i] == '"':
                term, i = _quoted(text, start, i)
            else:
                i = _end_of_word(text, i)
                term = text[start:i]
            try:
                check_text("text", term)
            except BadParameter as exc:
                raise BadQualifier(start, text[start:i], exc.reason) from None
            if term.strip():
                terms.append(term.strip())
            continue
        name = match.group(1).lower()
        i = match.end()
        if i < len(text) and text[i] == '"':
            value, i = _quoted(text, start, i)
        else:
            end = _end_of_word(text, i)
            value, i = text[i:end], end
        written = text[start:i]
        if name not in ALIASES:
            raise BadQualifier(start, written, f"unknown qualifier {name!r} (known: {', '.join(sorted(ALIASES))}; "
                               'quote text that holds a colon: "a:b")')  # fmt: skip
        try:
            values = _qualifier(name, value)
        except BadParameter as exc:
            raise BadQualifier(start, written, exc.reason) from None
        for key, parsed in values.items():
            if key in found:
                raise BadQualifier(start, written, f"{key} is given twice")
            found[key] = parsed
    if len(terms) > MAX_TERMS:
        raise BadParameter("q", f"at most {MAX_TERMS} free-text terms")
    return Filters(**found, text=tuple(terms))
