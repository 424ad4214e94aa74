"""Bulk eligibility: which learners of an organisation may start a module, evaluated in the engine.

The module's rule is compiled into one SQL boolean per learner, with every value a bound parameter and
every identifier fixed here. Its conditions on the learner's progress become aggregates over their
``learning_state`` rows, merged or not (one GROUP BY learner: a cell the engine has not merged yet is
several partial rows, and each aggregate below means the same over them as over the merged cell). It
means what the Python evaluator (``ccaudit.learning.evaluate``) means, condition by condition (a
property test holds the two together, over histories stored in several inserts):

- a lesson done: some row of that module and lesson with its first completion (or pass) set;
- ``lessons``: the number of distinct such lessons among the module's (required ones for "all");
- ``module`` (moveOn): per required lesson, rows meeting it (a waived lesson meets any);
- ``score``: the best score over the lesson's rows in the range; ``date``: the moment against the bounds;
- ``profession``: the learner's latest (``learning_learners``, migration 0044);
- ``waiver``: a waiver of the module for the learner in ``learning_waivers``, not revoked.

The learners asked about are those whose latest organisation (``learning_learners``) is the one asked
for, as the single answer reads it; only their state rows in the rule's modules are read. A
restricted learner, or one who objected to P5, is not listed (the single answer says "restricted"
for them).
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

_DONE = {"completed": "first_completed IS NOT NULL", "passed": "first_passed IS NOT NULL"}


@dataclass
class Compiled:
    """A rule compiled: ``condition`` reads ``atoms`` by name (a0, a1, …), aggregates over one learner's
    state rows in ``modules``, each 0 or 1; a learner with no such row has them all 0 (no evidence)."""

    condition: str
    atoms: list[str]
    modules: list[str]
    params: dict[str, Any]


@dataclass
class _Compiler:
    catalogue: Catalogue
    now: datetime
    params: dict[str, Any] = field(default_factory=dict)
    atoms: list[str] = field(default_factory=list)
    modules: set[str] = field(default_factory=set)
    _names: itertools.count[int] = field(default_factory=itertools.count)

    def bind(self, value: Any, kind: str) -> str:
        name = f"p{next(self._names)}"
        self.params[name] = value
        return f"{{{name}:{kind}}}"

    def atom(self, aggregate: str) -> str:
        name = f"a{len(self.atoms)}"
        self.atoms.append(f"toUInt8(ifNull({aggregate}, 0)) AS {name}")
        return name

    def lesson(self, module: str, lesson: str) -> str:
        """The rows of one module's lesson (a filter)."""
        self.modules.add(module)
        return f"module = {self.bind(module, 'String')} AND lesson = {self.bind(lesson, 'String')}"

    def some(self, module: str, lesson: str, test: str) -> str:
        """Whether some row of ``module``/``lesson`` passes ``test``."""
        return f"(countIf({self.lesson(module, lesson)} AND {test}) > 0)"

    def compile(self, rule: AnyRule) -> str:
        if isinstance(rule, All):
            return "(" + " AND ".join(self.compile(child) for child in rule.of) + ")"
        if isinstance(rule, AnyOf):
            return "(" + " OR ".join(self.compile(child) for child in rule.of) + ")"
        if isinstance(rule, Not):
            return f"(NOT {self.compile(rule.of)})"
        if isinstance(rule, LessonCondition):
            return self.atom(self.some(rule.module, rule.lesson, _DONE[rule.state]))
        if isinstance(rule, LessonsCondition):
            module = self.catalogue.modules[rule.module]
            pool = module.lessons if rule.at_least is not None else module.required()
            need = rule.at_least if rule.at_least is not None else len(pool)
            lessons = self.bind([lesson.id for lesson in pool], "Array(String)")
            self.modules.add(rule.module)
            return self.atom(
                f"uniqExactIf(lesson, module = {self.bind(rule.module, 'String')} AND lesson IN {lessons} AND "
                f"{_DONE[rule.state]}) >= {self.bind(need, 'UInt32')}"
            )
        if isinstance(rule, ModuleCondition):
            module = self.catalogue.modules[rule.module]
            default: MoveOn = rule.move_on or "Completed"
            pairs: list[tuple[str, MoveOn]] = [(les.id, rule.move_on or les.move_on) for les in module.required()]
            parts = [self._move_on(rule.module, lesson, how) for lesson, how in pairs or [("", default)]]
            return "(" + " AND ".join(parts) + ")"
        if isinstance(rule, ScoreCondition):
            best = f"maxIf(best_score, {self.lesson(rule.module, rule.lesson)})"
            low, high = self.bind(rule.min, "Float64"), self.bind(rule.max, "Float64")
            return self.atom(f"{best} >= {low} AND {best} <= {high}")
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
            return f"(who.prof IN {self.bind(list(rule.any_of), 'Array(String)')})"
        if isinstance(rule, WaiverCondition):
            return "(who.learner IN waived)"
        raise TypeError(f"not a rule: {rule!r}")

    def _move_on(self, module: str, lesson: str, how: MoveOn) -> str:
        if how == "NotApplicable":
            return "1"
        completed, passed = (self.some(module, lesson, _DONE[state]) for state in ("completed", "passed"))
        met = {"Completed": completed, "Passed": passed, "CompletedAndPassed": f"({completed} AND {passed})",
               "CompletedOrPassed": f"({completed} OR {passed})"}[how]  # fmt: skip
        return self.atom(f"{self.some(module, lesson, 'first_waived IS NOT NULL')} OR {met}")


def compile_rule(rule: AnyRule, catalogue: Catalogue, now: datetime) -> Compiled:
    """The rule as a SQL boolean over one learner, with what it reads."""
    compiler = _Compiler(catalogue, now)
    condition = compiler.compile(rule)
    return Compiled(condition, compiler.atoms, sorted(compiler.modules), compiler.params)


def eligible_learners(
    store: Store, catalogue: Catalogue, platform: str, organisation: str, module: str, now: datetime
) -> list[str]:
    """The learners of ``organisation`` on ``platform`` (those with any learning state) who may start
    ``module``, sorted. A module without a rule opens to all of them. Raises KeyError for an unknown module."""
    rule = catalogue.modules[module].rule
    compiled = compile_rule(rule, catalogue, now) if rule is not None else Compiled("1", [], [], {})
    params = {**compiled.params, "platform": platform, "organisation": organisation, "target": module,
              "modules": compiled.modules}  # fmt: skip
    db = store.database
    members = (
        f"SELECT learner, max(profession).3 AS prof FROM {db}.learning_learners WHERE platform = {{platform:String}} "
        "GROUP BY learner HAVING max(organisation).3 = {organisation:String}"
    )
    progress = ""
    if compiled.atoms:
        # Only the rows of the organisation's learners in the rule's modules are read.
        progress = (
            f"LEFT JOIN (SELECT learner, {', '.join(compiled.atoms)} FROM {db}.learning_state "
            "WHERE platform = {platform:String} AND module IN {modules:Array(String)} "
            f"AND learner IN (SELECT learner FROM ({members})) GROUP BY learner) AS s ON s.learner = who.learner "
        )
    sql = (
        f"WITH waived AS (SELECT learner FROM {db}.learning_waivers "
        "WHERE platform = {platform:String} AND module = {target:String} "
        f"AND waiver_id NOT IN (SELECT waiver_id FROM {db}.learning_waiver_revocations "
        "WHERE platform = {platform:String} AND module = {target:String})) "
        f"SELECT who.learner FROM ({members}) AS who {progress}"
        f"WHERE {clause(db, ('who.learner',), LEARNING_PURPOSES)} AND {compiled.condition} ORDER BY who.learner"
    )
    return [str(row[0]) for row in query_rows(store.client, sql, params)]
