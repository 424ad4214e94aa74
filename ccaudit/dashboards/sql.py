"""A panel's SQL: the macros it may use, their expansion into bound parameters, the principal's scope
as row filters on the tables it reads, and small-cell suppression as one wrapper both renderers run.

Macros and variables (the Grafana ClickHouse data source's names, so Grafana runs the same text):

- ``$__dateFilter(col)`` → ``col >= <first day> AND col <= <last day>``
- ``$__timeFilter(col)`` → ``col >= <from> AND col <= <to>`` (seconds), ``$__fromTime``, ``$__toTime``
- ``${platform:singlequote}``, ``${organisation:singlequote}``: the filter, ``''`` for all
- ``${db}.<table>``: a rollup table (:data:`ROLLUP_TABLES`); nothing else may be read.

Here each becomes a ``{name:Type}`` parameter bound by the engine; no value is written into the text.

**Scope.** Each ``${db}.<table>`` becomes a subquery that keeps only the principal's rows: its
platforms (a platform read token), and for a table that carries organisations, its organisations (an
org_admin's or a learning_manager's). The bounds come from the principal, never from a parameter.

**Suppression** (:func:`suppressed`): a row in which a ``visitors`` figure (people: visitors,
learners, receipts) is from 1 to k-1 has all its figures hidden. When the hidden rows together count
fewer than k people (by the table's first ``visitors`` column), the shown row with the fewest people
(but at least one) is hidden too: complementary suppression. So a total shown elsewhere minus the
rows shown gives only the sum of several hidden rows, which counts k people or more: never one
small row, nor a small group of them. Totals (the stat panels) are computed from every row and
shown unless they are small themselves (a table whose only other rows count nobody cannot be
protected by a complement: its total is then the small row's figure, and is hidden as small too).
The wrapper is SQL so that Grafana, which runs the panel's SQL itself, hides exactly the same cells
(it shows the NULLs as "<k").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ccaudit.dashboards.model import Column

# Rollup tables a panel may read, and whether their rows carry an organisation (scoped by it).
ROLLUP_TABLES: dict[str, str | None] = {
    # Usage per day, platform and one value, closed days as numbers (migration 0042): what panels read.
    "usage_visits": None,
    "usage_pages": None,
    "usage_browsers": None,
    "usage_systems": None,
    "usage_devices": None,
    "usage_countries": None,
    "usage_referrers": None,
    # The states beneath them (migration 0021).
    "usage_daily": None,
    "usage_pages_daily": None,
    "usage_devices_daily": None,
    "usage_countries_daily": None,
    "usage_referrers_daily": None,
    "usage_minutes": None,
    "audit_daily": "organisation",
    "consent_daily": None,
    # Per learner, module and lesson (migration 0012): the learner's organisation is the latest one
    # seen, an aggregate state; panels count learners and never select who they are.
    "learning_state": "learner_organisation",
}
VARIABLES = ("platform", "organisation")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOKEN = re.compile(
    r"\$__(?P<filter>dateFilter|timeFilter)\((?P<column>[A-Za-z_][A-Za-z0-9_.]*)\)"
    r"|\$__(?P<bound>fromTime|toTime)\b"
    r"|\$\{db\}\.(?P<table>[A-Za-z_][A-Za-z0-9_]*)"
    r"|\$\{(?P<variable>[a-z]+):singlequote\}"
)
_TIME = "DateTime('UTC')"


def check_sql(sql: str) -> None:
    """ValueError naming what is wrong: an unknown macro, variable or table, or a brace of its own
    (the engine's parameters are written in braces)."""
    for match in _TOKEN.finditer(sql):
        if match["table"] is not None and match["table"] not in ROLLUP_TABLES:
            raise ValueError(f"{match['table']} is not a rollup table ({', '.join(ROLLUP_TABLES)})")
        if match["variable"] is not None and match["variable"] not in VARIABLES:
            raise ValueError(f"unknown variable {match['variable']} (known: {', '.join(VARIABLES)})")
    rest = _TOKEN.sub("", sql)
    for mark in ("$", "{", "}"):
        if mark in rest:
            at = rest.index(mark)
            raise ValueError(f"unknown macro or brace near {rest[at : at + 30]!r}")


def tables(sql: str) -> list[str]:
    """The rollup tables ``sql`` reads."""
    return [m["table"] for m in _TOKEN.finditer(sql) if m["table"] is not None]


@dataclass(frozen=True, slots=True)
class Bounds:
    """What a query is bound to: its time span, the reader's filters and the principal's scope."""

    first_day: date
    last_day: date
    start: datetime  # inclusive, whole seconds, UTC
    end: datetime  # inclusive, whole seconds, UTC
    platform: str | None
    organisation: str | None
    scope_platforms: frozenset[str] | None
    scope_organisations: frozenset[str] | None


def _source(database: str, table: str, bounds: Bounds, params: dict[str, Any]) -> str:
    name = f"{database}.{table}"
    filters = []
    if bounds.scope_platforms is not None:
        params["scope_platforms"] = sorted(bounds.scope_platforms)
        filters.append("platform IN {scope_platforms:Array(String)}")
    kind = ROLLUP_TABLES[table]
    if bounds.scope_organisations is not None and kind is not None:
        params["scope_organisations"] = sorted(bounds.scope_organisations)
        if kind == "organisation":
            filters.append("organisation IN {scope_organisations:Array(String)}")
        else:  # a learner belongs to the organisation the latest event of the module named
            filters.append(
                f"(platform, learner, module) IN (SELECT platform, learner, module FROM {name} "
                "GROUP BY platform, learner, module "
                "HAVING argMaxMerge(organisation) IN {scope_organisations:Array(String)})"
            )
    if not filters:
        return name
    return f"(SELECT * FROM {name} WHERE {' AND '.join(filters)}) AS {table}"


def expand(sql: str, database: str, bounds: Bounds) -> tuple[str, dict[str, Any]]:
    """``sql`` with its macros as bound parameters and its tables scoped; and the parameters."""
    if not _IDENTIFIER.fullmatch(database):
        raise ValueError(f"not a database name: {database!r}")
    check_sql(sql)
    params: dict[str, Any] = {}

    def one(match: re.Match[str]) -> str:
        if match["filter"] == "dateFilter":
            params.update(first_day=bounds.first_day, last_day=bounds.last_day)
            col = match["column"]
            return f"{col} >= {{first_day:Date}} AND {col} <= {{last_day:Date}}"
        if match["filter"] == "timeFilter":
            params.update(start=bounds.start, end=bounds.end)
            col = match["column"]
            return f"{col} >= {{start:{_TIME}}} AND {col} <= {{end:{_TIME}}}"
        if match["bound"] is not None:
            name = "start" if match["bound"] == "fromTime" else "end"
            params[name] = bounds.start if name == "start" else bounds.end
            return f"{{{name}:{_TIME}}}"
        if match["table"] is not None:
            return _source(database, match["table"], bounds, params)
        name = match["variable"]
        params[name] = (bounds.platform if name == "platform" else bounds.organisation) or ""
        return f"{{{name}:String}}"

    return _TOKEN.sub(one, sql), params


def suppressed(sql: str, columns: Sequence[Column], k: str) -> str:
    """``sql`` wrapped so that the rows to hide have NULL figures and ``_hide`` set (see the module's
    docstring). ``k`` is SQL: a bound parameter here, a number in Grafana's copy."""
    people = [c.key for c in columns if c.kind == "visitors"]
    small = " OR ".join(f"({key} > 0 AND {key} < {k})" for key in people) or "false"
    first = people[0] if people else "0"
    shown = ", ".join(
        f"if(_hide, NULL, {c.key}) AS {c.key}" if c.kind in ("count", "visitors", "ratio") else c.key for c in columns
    )
    return (
        f"SELECT {shown}, _hide FROM ("
        "SELECT *, _small OR (_small_sum > 0 AND _small_sum < "
        f"{k} AND NOT _small AND {first} > 0 AND _rank = 1) AS _hide FROM ("
        f"SELECT *, sumIf({first}, _small) OVER () AS _small_sum, "
        f"row_number() OVER (PARTITION BY _small ORDER BY {first} = 0, {first}, _pos) AS _rank FROM ("
        f"SELECT *, ({small}) AS _small, rowNumberInAllBlocks() AS _pos FROM (\n{sql}\n)))) ORDER BY _pos"
    )
