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
from datetime import UTC, datetime
from typing import Any, Literal

from ccaudit.learning.catalogue import Catalogue
from ccaudit.store import Store
from ccaudit.store.client import query_rows
from ccaudit.store.restricted import LEARNING_PURPOSES, clause

K = 5
SMALL = f"<{K}"
GroupBy = Literal["organisation", "profession", "period"]
_GROUP_EXPR: dict[str, str] = {
    "organisation": "org",
    "profession": "prof",
    "period": "toString(toStartOfMonth(first_at))",
}
_LESSON_FIGURES = ("lesson", "reached", "completed", "dropped")
_FAR = datetime(2299, 12, 31, tzinfo=UTC)
_MET: dict[str, str] = {
    "Completed": "least(ifNull(c, {far:DateTime64(3, 'UTC')}), ifNull(w, {far:DateTime64(3, 'UTC')}))",
    "Passed": "least(ifNull(p, {far:DateTime64(3, 'UTC')}), ifNull(w, {far:DateTime64(3, 'UTC')}))",
    "CompletedAndPassed": "least(ifNull(w, {far:DateTime64(3, 'UTC')}), "
    "if(c IS NULL OR p IS NULL, {far:DateTime64(3, 'UTC')}, greatest(c, p)))",
    "CompletedOrPassed": "least(ifNull(c, {far:DateTime64(3, 'UTC')}), ifNull(p, {far:DateTime64(3, 'UTC')}), "
    "ifNull(w, {far:DateTime64(3, 'UTC')}))",
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


def _sources(store: Store, catalogue: Catalogue, query: StatsQuery) -> tuple[str, dict[str, Any], list[str]]:
    """The CTEs (rows per learner and lesson with the moment its moveOn was met; learners), their
    parameters, and the lessons in order."""
    module = catalogue.modules[query.module]
    order = [lesson.id for lesson in module.lessons]
    if module.lessons:
        required = [(les.id, les.move_on) for les in module.required() if les.move_on != "NotApplicable"]
    else:
        required = [("", "Completed")]
    params: dict[str, Any] = {"platform": query.platform, "module": query.module, "far": _FAR, "order": order,
                              "required": [lesson for lesson, _ in required], "n_required": len(required)}  # fmt: skip
    branches = []
    for i, how in enumerate(sorted({how for _, how in required})):
        params[f"how{i}"] = [lesson for lesson, h in required if h == how]
        branches.append(f"lesson IN {{how{i}:Array(String)}}, {_MET[how]}")
    met = f"nullIf(multiIf({', '.join(branches)}, NULL), {{far:DateTime64(3, 'UTC')}})" if branches else "NULL"
    learner_filters = []
    if query.scope_organisations is not None:
        learner_filters.append("org IN {scope:Array(String)}")
        params["scope"] = sorted(query.scope_organisations)
    if query.since is not None:
        learner_filters.append("first_at >= {since:DateTime64(3, 'UTC')}")
        params["since"] = query.since
    if query.until is not None:
        learner_filters.append("first_at < {until:DateTime64(3, 'UTC')}")
        params["until"] = query.until
    db = store.database
    ctes = (
        "WITH rows AS (SELECT learner, lesson, min(first_seen) AS fs, max(last_seen) AS ls, "
        "min(first_registered) AS reg, min(first_started) AS st, min(first_completed) AS c, min(first_passed) AS p, "
        "min(first_waived) AS w, max(best_score) AS sc, argMaxMerge(profession) AS prof, "
        f"argMaxMerge(organisation) AS org FROM {db}.learning_state "
        "WHERE platform = {platform:String} AND module = {module:String} "
        f"AND {clause(db, ('learner',), LEARNING_PURPOSES)} GROUP BY learner, lesson), "
        f"marked AS (SELECT *, {met} AS met_at FROM rows), "
        "learners AS (SELECT * FROM (SELECT learner, argMax(org, (ls, lesson)) AS org, "
        "argMax(prof, (ls, lesson)) AS prof, min(fs) AS first_at, countIf(reg IS NOT NULL) > 0 AS enrolled, "
        "countIf(st IS NOT NULL) > 0 AS started, "
        "countIf(lesson IN {required:Array(String)} AND met_at IS NOT NULL) = {n_required:UInt32} AS done, "
        "maxIf(met_at, lesson IN {required:Array(String)}) AS done_at, max(sc) AS best, "
        "maxIf(indexOf({order:Array(String)}, lesson), st IS NOT NULL) AS furthest "
        f"FROM marked GROUP BY learner){' WHERE ' + ' AND '.join(learner_filters) if learner_filters else ''}) "
    )
    return ctes, params, order


def module_statistics(store: Store, catalogue: Catalogue, query: StatsQuery) -> dict[str, Any]:
    """The module's statistics, suppressed. Raises KeyError for a module not in the catalogue."""
    ctes, params, order = _sources(store, catalogue, query)
    group = _GROUP_EXPR[query.by] if query.by is not None else "'all'"
    totals = query_rows(
        store.client,
        f"{ctes}SELECT {group.format(t='')} AS g, count(), countIf(enrolled), countIf(started), countIf(done), "
        "quantileExactIf(0.5)(dateDiff('second', first_at, done_at), done), avgIf(best, best IS NOT NULL), "
        "countIf(best IS NOT NULL) FROM learners GROUP BY g ORDER BY g",
        params,
    )
    per_lesson = query_rows(
        store.client,
        f"{ctes}SELECT {group.format(t='l.')} AS g, m.lesson, countIf(m.st IS NOT NULL), "
        "countIf(m.met_at IS NOT NULL), "
        "countIf(NOT l.done AND indexOf({order:Array(String)}, m.lesson) = l.furthest AND m.st IS NOT NULL) "
        "FROM marked AS m INNER JOIN learners AS l ON m.learner = l.learner "
        "WHERE m.lesson IN {order:Array(String)} GROUP BY g, m.lesson",
        params,
    )
    lessons: dict[str, dict[str, tuple[int, int, int]]] = {}
    for g, lesson, reached, met, dropped in per_lesson:
        lessons.setdefault(str(g), {})[str(lesson)] = (int(reached), int(met), int(dropped))
    groups = []
    for g, learners, enrolled, started, done, median, best, scored in totals:
        counts = lessons.get(str(g), {})
        groups.append(suppress({
            "group": str(g), "learners": int(learners), "enrolled": int(enrolled), "started": int(started),
            "completed": int(done), "median_seconds_to_complete": _number(median),
            "average_best_score": _number(best), "scored": int(scored),
            "lessons": [dict(zip(_LESSON_FIGURES, (lesson, *counts.get(lesson, (0, 0, 0))), strict=True))
                        for lesson in order],
        }))  # fmt: skip
    return {"platform": query.platform, "module": query.module, "by": query.by or "all", "k": K, "groups": groups}


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
