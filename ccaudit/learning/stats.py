"""Module statistics from the engine's learning state, with small groups suppressed here, once.

For one module of one platform: learners, enrolled (a ``registered`` event), started (any step but
registration), completed (every required lesson's cmi5 moveOn met, a waived lesson included; a module
without lessons: its own completion), completion rate, median time to complete (from the learner's
first event in the module to the moment the last required lesson was met), average best score, and
per lesson in the catalogue's order: learners who reached it, met its moveOn, and dropped off there
(reached it as their furthest lesson and did not complete the module). Grouped by the learner's
latest organisation, latest profession, or month of their first event in the module (``period``), or
not at all; ``since``/``until`` bound that first event.

Suppression (``suppress``, k = 5): a group of fewer than k learners shows "<5" for every count and
nothing for rates, median and average; in other groups a count from 1 to k-1 shows "<5", and a rate,
median or average drawn from fewer than k learners is left out. The console, the API and the
dashboards call these functions and so suppress alike.

Learners whose processing is restricted (GDPR art. 18) or who objected to P5 (art. 21) are left out
of every figure (``ccaudit.store.restricted``); their rows stay stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from ccaudit.learning.catalogue import Catalogue
from ccaudit.store import Store
from ccaudit.store.client import query_rows
from ccaudit.store.restricted import LEARNING_PURPOSES, clause

K = 5
SMALL = f"<{K}"
GroupBy = Literal["organisation", "profession", "period"]
_GROUP_EXPR: dict[str, str] = {
    "organisation": "who.org",
    "profession": "who.prof",
    "period": "toString(toStartOfMonth(first_at))",
}
_LESSON_FIGURES = ("lesson", "reached", "completed", "dropped")
# The moment one state row meets a lesson's moveOn by itself; the lesson's is the earliest over its
# rows. least skips NULL (and gives NULL when all are): a row neither completed nor waived meets nothing.
_MET_BY_ROW: dict[str, str] = {
    "Completed": "least(first_completed, first_waived)",
    "Passed": "least(first_passed, first_waived)",
    "CompletedOrPassed": "least(first_completed, first_passed, first_waived)",
}


@dataclass(frozen=True, slots=True)
class StatsQuery:
    platform: str
    module: str
    by: GroupBy | None = None
    since: datetime | None = None
    until: datetime | None = None
    # The principal's organisations (a learning_manager's), applied before anything else; None = all.
    scope_organisations: frozenset[str] | None = None


def _first(value: str, lesson: str) -> str:
    """The earliest non-NULL ``value`` over the rows of ``lesson`` (a bound parameter), NULL if none.
    Aggregated as a plain value with -OrNull rather than over the Nullable column: a third cheaper."""
    return f"minOrNullIf(assumeNotNull({value}), lesson = {lesson} AND {value} IS NOT NULL)"


def _met(how: str, lesson: str) -> str:
    """The moment ``lesson`` met ``how`` over the learner's rows of the module, NULL if it did not.
    CompletedAndPassed needs both, which may come from different partial rows of the lesson."""
    if how != "CompletedAndPassed":
        return _first(_MET_BY_ROW[how], lesson)
    completed, passed, waived = (_first(c, lesson) for c in ("first_completed", "first_passed", "first_waived"))
    return f"least({waived}, if({completed} IS NULL OR {passed} IS NULL, NULL, greatest({completed}, {passed})))"


def _per_learner(store: Store, catalogue: Catalogue, query: StatsQuery) -> tuple[str, dict[str, Any], list[str]]:
    """One row per learner of the module, from their state rows merged or not (one GROUP BY learner),
    with per lesson in the catalogue's order whether they reached it, met its moveOn, dropped there;
    its parameters; the lessons in order."""
    module = catalogue.modules[query.module]
    order = [lesson.id for lesson in module.lessons]
    if module.lessons:
        required = [(les.id, les.move_on) for les in module.required() if les.move_on != "NotApplicable"]
    else:
        required = [("", "Completed")]
    params: dict[str, Any] = {"platform": query.platform, "module": query.module}
    lesson = {les: f"{{l{i}:String}}" for i, les in enumerate(dict.fromkeys([*order, *(r for r, _ in required)]))}
    params.update({f"l{i}": les for i, les in enumerate(lesson)})
    met = {les: _met(how, lesson[les]) for les, how in required}
    reached = {les: f"countIf(lesson = {lesson[les]} AND first_started IS NOT NULL) > 0" for les in order}
    done = " AND ".join(f"({m}) IS NOT NULL" for m in met.values()) or "1"
    furthest = "greatest(0, " + ", ".join(f"if({reached[les]}, {i + 1}, 0)" for i, les in enumerate(order)) + ")"
    db = store.database
    sql = (
        "SELECT learner, min(first_seen) AS first_at, countIf(first_registered IS NOT NULL) > 0 AS enrolled, "
        f"countIf(first_started IS NOT NULL) > 0 AS started, {done} AS done, "
        f"{'greatest(' + ', '.join(met.values()) + ')' if met else 'NULL'} AS done_at, "
        "maxOrNullIf(assumeNotNull(best_score), best_score IS NOT NULL) AS best, "
        f"{furthest if order else '0'} AS furthest, "
        f"[{', '.join(f'toUInt8({reached[les]})' for les in order)}]::Array(UInt8) AS reached, "
        f"[{', '.join(f'toUInt8(({met[les]}) IS NOT NULL)' if les in met else '0' for les in order)}]::Array(UInt8) "
        "AS met "
        f"FROM {db}.learning_state WHERE platform = {{platform:String}} AND module = {{module:String}} "
        f"AND {clause(db, ('learner',), LEARNING_PURPOSES)} GROUP BY learner"
    )
    return sql, params, order


def module_statistics(store: Store, catalogue: Catalogue, query: StatsQuery) -> dict[str, Any]:
    """The module's statistics, suppressed. Raises KeyError for a module not in the catalogue."""
    groups = [suppress(group) for group in _figures(store, catalogue, query)]
    return {"platform": query.platform, "module": query.module, "by": query.by or "all", "k": K, "groups": groups}


def _figures(store: Store, catalogue: Catalogue, query: StatsQuery) -> list[dict[str, Any]]:
    """Each group's figures as counted, before suppression: never handed out as they are."""
    per_learner, params, order = _per_learner(store, catalogue, query)
    filters = []
    join = ""
    if query.by in ("organisation", "profession") or query.scope_organisations is not None:
        # Each learner's latest organisation and profession (migration 0044), one row per learner.
        join = (f"INNER JOIN (SELECT learner, max(organisation).3 AS org, max(profession).3 AS prof "
                f"FROM {store.database}.learning_learners WHERE platform = {{platform:String}} GROUP BY learner) "
                "AS who ON who.learner = l.learner ")  # fmt: skip
    if query.scope_organisations is not None:
        filters.append("who.org IN {scope:Array(String)}")
        params["scope"] = sorted(query.scope_organisations)
    if query.since is not None:
        filters.append("first_at >= {since:DateTime64(3, 'UTC')}")
        params["since"] = query.since
    if query.until is not None:
        filters.append("first_at < {until:DateTime64(3, 'UTC')}")
        params["until"] = query.until
    group = _GROUP_EXPR[query.by] if query.by is not None else "'all'"
    # Per lesson: reached, met, and dropped (reached as the furthest lesson, module not completed).
    dropped = "arrayMap((r, i) -> toUInt8(r AND NOT done AND i = furthest), reached, arrayEnumerate(reached))"
    rows = query_rows(
        store.client,
        f"SELECT {group} AS g, count(), countIf(enrolled), countIf(started), countIf(done), "
        "quantileExactIf(0.5)(dateDiff('second', first_at, done_at), done), avgIf(best, best IS NOT NULL), "
        f"countIf(best IS NOT NULL), sumForEach(reached), sumForEach(met), sumForEach({dropped}) "
        f"FROM ({per_learner}) AS l {join}{'WHERE ' + ' AND '.join(filters) + ' ' if filters else ''}"
        "GROUP BY g ORDER BY g",
        params,
    )
    groups = []
    for g, learners, enrolled, started, done, median, best, scored, reached, met, dropped_at in rows:
        counts = list(zip(reached, met, dropped_at, strict=True)) or [(0, 0, 0)] * len(order)
        groups.append({
            "group": str(g), "learners": int(learners), "enrolled": int(enrolled), "started": int(started),
            "completed": int(done), "median_seconds_to_complete": _number(median),
            "average_best_score": _number(best), "scored": int(scored),
            "lessons": [dict(zip(_LESSON_FIGURES, (lesson, *(int(n) for n in figures)), strict=True))
                        for lesson, figures in zip(order, counts, strict=True)],
        })  # fmt: skip
    return groups


def _number(value: Any) -> float | None:
    # The engine answers NaN (or NULL) for a median or an average over no rows.
    return None if value is None or value != value else float(value)


def _cell(value: int) -> int | str:
    return SMALL if 0 < value < K else value


def suppress(group: dict[str, Any]) -> dict[str, Any]:
    """One group's figures with small cells suppressed (see the module's docstring)."""
    if group["learners"] < K:
        counts = ("learners", "enrolled", "started", "completed")
        return {"group": group["group"], **dict.fromkeys(counts, SMALL), "completion_rate": None,
                "median_seconds_to_complete": None, "average_best_score": None,
                "lessons": [{"lesson": les["lesson"], "reached": SMALL, "completed": SMALL, "dropped": SMALL}
                            for les in group["lessons"]]}  # fmt: skip
    done = group["completed"]
    return {
        "group": group["group"], "learners": group["learners"], "enrolled": _cell(group["enrolled"]),
        "started": _cell(group["started"]), "completed": _cell(done),
        "completion_rate": round(done / group["learners"], 4) if done == 0 or done >= K else None,
        "median_seconds_to_complete": group["median_seconds_to_complete"] if done >= K else None,
        "average_best_score": group["average_best_score"] if group["scored"] >= K else None,
        "lessons": [{"lesson": les["lesson"], "reached": _cell(les["reached"]), "completed": _cell(les["completed"]),
                     "dropped": _cell(les["dropped"])} for les in group["lessons"]],
    }  # fmt: skip
