"""Bulk eligibility: which learners of an organisation may start a module, evaluated in the engine.

The module's rule is compiled into one SQL boolean over a learner's merged state rows (one row per
module and lesson, grouped by learner), with every value a bound parameter and every identifier
fixed here. It means what the Python evaluator (``ccaudit.learning.evaluate``) means, condition by
condition (a property test holds the two together):

- a lesson done: a row of that module and lesson with its first completion (or pass) set;
- ``lessons``: the number of such rows among the module's lessons (required ones for "all");
- ``module`` (moveOn): per required lesson, a row meeting it (a waived lesson meets any);
- ``score``: a row whose best score is in the range; ``date``: the moment against the bounds;
- ``profession``: the latest profession over the learner's rows (by last seen, then module, lesson);
- ``waiver``: a waiver of the module for the learner in ``learning_waivers``, not revoked.

The organisation is the learner's latest too, as the single answer reads it. A restricted learner,
or one who objected to P5, is not listed (the single answer says "restricted" for them).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ccaudit.learning.catalogue import Catalogue
from ccaudit.learning.rules import (
    All,
    AnyOf,
    AnyRule,
    DateCondition,
    LessonCondition,
    LessonsCondition,
    ModuleCondition,
    MoveOn,
    Not,
    ProfessionCondition,
    ScoreCondition,
    WaiverCondition,
)
from ccaudit.store import Store
from ccaudit.store.client import query_rows
from ccaudit.store.restricted import LEARNING_PURPOSES, clause

_DONE = {"completed": "c IS NOT NULL", "passed": "p IS NOT NULL"}
_MOVE_ON: dict[str, str] = {
    "Completed": "c IS NOT NULL",
    "Passed": "p IS NOT NULL",
    "CompletedAndPassed": "(c IS NOT NULL AND p IS NOT NULL)",
    "CompletedOrPassed": "(c IS NOT NULL OR p IS NOT NULL)",
}
_LATEST = "(ls, module, lesson)"


@dataclass
class _Compiler:
    catalogue: Catalogue
    database: str
    now: datetime
    params: dict[str, Any] = field(default_factory=dict)
    _names: itertools.count[int] = field(default_factory=itertools.count)

    def bind(self, value: Any, kind: str) -> str:
        name = f"p{next(self._names)}"
        self.params[name] = value
        return f"{{{name}:{kind}}}"

    def row(self, module: str, lesson: str, test: str) -> str:
        """Whether some row of ``module``/``lesson`` passes ``test``."""
        where = f"module = {self.bind(module, 'String')} AND lesson = {self.bind(lesson, 'String')}"
        return f"(countIf({where} AND {test}) > 0)"

    def compile(self, rule: AnyRule) -> str:
        if isinstance(rule, All):
            return "(" + " AND ".join(self.compile(child) for child in rule.of) + ")"
        if isinstance(rule, AnyOf):
            return "(" + " OR ".join(self.compile(child) for child in rule.of) + ")"
        if isinstance(rule, Not):
            return f"(NOT {self.compile(rule.of)})"
        if isinstance(rule, LessonCondition):
            return self.row(rule.module, rule.lesson, _DONE[rule.state])
        if isinstance(rule, LessonsCondition):
            module = self.catalogue.modules[rule.module]
            pool = module.lessons if rule.at_least is not None else module.required()
            need = rule.at_least if rule.at_least is not None else len(pool)
            lessons = self.bind([lesson.id for lesson in pool], "Array(String)")
            return (
                f"(countIf(module = {self.bind(rule.module, 'String')} AND lesson IN {lessons} AND "
                f"{_DONE[rule.state]}) >= {self.bind(need, 'UInt32')})"
            )
        if isinstance(rule, ModuleCondition):
            module = self.catalogue.modules[rule.module]
            default: MoveOn = rule.move_on or "Completed"
            pairs: list[tuple[str, MoveOn]] = [(les.id, rule.move_on or les.move_on) for les in module.required()]
            parts = [self._move_on(rule.module, lesson, how) for lesson, how in pairs or [("", default)]]
            return "(" + " AND ".join(parts) + ")"
        if isinstance(rule, ScoreCondition):
            low, high = self.bind(rule.min, "Float64"), self.bind(rule.max, "Float64")
            return self.row(rule.module, rule.lesson, f"sc >= {low} AND sc <= {high}")
        if isinstance(rule, DateCondition):
            moment = "DateTime64(3, 'UTC')"
            now = self.bind(self.now, moment)
            parts = ["1"]
            if rule.from_ is not None:
                parts.append(f"{now} >= {self.bind(rule.from_, moment)}")
            if rule.until is not None:
                parts.append(f"{now} < {self.bind(rule.until, moment)}")
            return "(" + " AND ".join(parts) + ")"
        if isinstance(rule, ProfessionCondition):
            return f"(argMax(prof, {_LATEST}) IN {self.bind(list(rule.any_of), 'Array(String)')})"
        if isinstance(rule, WaiverCondition):
            return "(learner IN waived)"
        raise TypeError(f"not a rule: {rule!r}")

    def _move_on(self, module: str, lesson: str, how: MoveOn) -> str:
        if how == "NotApplicable":
            return "1"
        return self.row(module, lesson, f"(w IS NOT NULL OR {_MOVE_ON[how]})")


def compile_rule(rule: AnyRule, catalogue: Catalogue, database: str, now: datetime) -> tuple[str, dict[str, Any]]:
    """The rule as a SQL boolean over one learner's grouped state rows, and its bound parameters."""
    compiler = _Compiler(catalogue, database, now)
    return compiler.compile(rule), compiler.params


def eligible_learners(
    store: Store, catalogue: Catalogue, platform: str, organisation: str, module: str, now: datetime
) -> list[str]:
    """The learners of ``organisation`` on ``platform`` (those with any learning state) who may start
    ``module``, sorted. A module without a rule opens to all of them. Raises KeyError for an unknown module."""
    rule = catalogue.modules[module].rule
    condition, params = ("1", {}) if rule is None else compile_rule(rule, catalogue, store.database, now)
    params = {**params, "platform": platform, "organisation": organisation, "target": module}
    db = store.database
    sql = (
        f"WITH waived AS (SELECT learner FROM {db}.learning_waivers "
        "WHERE platform = {platform:String} AND module = {target:String} "
        f"AND waiver_id NOT IN (SELECT waiver_id FROM {db}.learning_waiver_revocations "
        "WHERE platform = {platform:String} AND module = {target:String})) "
        "SELECT learner FROM ("
        "SELECT learner, module, lesson, min(first_completed) AS c, min(first_passed) AS p, "
        "min(first_waived) AS w, max(best_score) AS sc, max(last_seen) AS ls, "
        "argMaxMerge(profession) AS prof, argMaxMerge(organisation) AS org "
        f"FROM {db}.learning_state WHERE platform = {{platform:String}} "
        f"AND {clause(db, ('learner',), LEARNING_PURPOSES)} GROUP BY learner, module, lesson) "
        f"GROUP BY learner HAVING argMax(org, {_LATEST}) = {{organisation:String}} AND {condition} ORDER BY learner"
    )
    return [str(row[0]) for row in query_rows(store.client, sql, params)]
