"""Eligibility rules: a tree of all / any / not over conditions, as JSON and as frozen models.

    {"kind": "all", "of": [
        {"kind": "module", "module": "basics", "move_on": "CompletedAndPassed"},
        {"kind": "any", "of": [
            {"kind": "profession", "any_of": ["teacher", "student"]},
            {"kind": "waiver"}]}]}

Conditions:

- ``lesson``: a lesson of a module completed, or passed (``state``);
- ``lessons``: all required lessons of a module (``at_least`` null), or at least N of its lessons,
  completed or passed;
- ``module``: a module done the way cmi5's moveOn says, for each of its required lessons
  (Completed, Passed, CompletedAndPassed, CompletedOrPassed, NotApplicable; null: each lesson's own
  ``move_on`` from the catalogue); a waived lesson counts as done, as in cmi5;
- ``score``: the best scaled score of a lesson (or of the module itself, lesson '') within
  ``min``..``max``;
- ``date``: the moment of the question on or after ``from`` and before ``until``;
- ``profession``: the learner's latest profession is one of ``any_of``;
- ``waiver``: a ``learning_manager`` waived the rule of this module for the learner, with a reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

MoveOn = Literal["Completed", "Passed", "CompletedAndPassed", "CompletedOrPassed", "NotApplicable"]
LessonDone = Literal["completed", "passed"]
_Name = Annotated[str, Field(min_length=1, max_length=256)]


class _Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class All(_Node):
    kind: Literal["all"]
    of: Annotated[tuple[Rule, ...], Field(min_length=1, max_length=64)]


class AnyOf(_Node):
    kind: Literal["any"]
    of: Annotated[tuple[Rule, ...], Field(min_length=1, max_length=64)]


class Not(_Node):
    kind: Literal["not"]
    of: Rule


class LessonCondition(_Node):
    kind: Literal["lesson"]
    module: _Name
    lesson: _Name
    state: LessonDone = "completed"


class LessonsCondition(_Node):
    kind: Literal["lessons"]
    module: _Name
    state: LessonDone = "completed"
    at_least: Annotated[int, Field(ge=1, le=10_000)] | None = None


class ModuleCondition(_Node):
    kind: Literal["module"]
    module: _Name
    move_on: MoveOn | None = None


class ScoreCondition(_Node):
    kind: Literal["score"]
    module: _Name
    lesson: Annotated[str, Field(max_length=256)] = ""
    min: Annotated[float, Field(ge=-1, le=1)] = -1.0
    max: Annotated[float, Field(ge=-1, le=1)] = 1.0

    @model_validator(mode="after")
    def _range(self) -> ScoreCondition:
        if self.min > self.max:
            raise ValueError("score: min is above max")
        return self


class DateCondition(_Node):
    kind: Literal["date"]
    from_: Annotated[AwareDatetime | None, Field(alias="from")] = None
    until: AwareDatetime | None = None

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _range(self) -> DateCondition:
        if self.from_ is None and self.until is None:
            raise ValueError("date: name from, until or both")
        if self.from_ is not None and self.until is not None and self.from_ >= self.until:
            raise ValueError("date: from is not before until")
        return self


class ProfessionCondition(_Node):
    kind: Literal["profession"]
    any_of: Annotated[tuple[_Name, ...], Field(min_length=1, max_length=64)]


class WaiverCondition(_Node):
    kind: Literal["waiver"]


Condition = (
    LessonCondition | LessonsCondition | ModuleCondition | ScoreCondition | DateCondition | ProfessionCondition
    | WaiverCondition
)  # fmt: skip
Rule = Annotated[All | AnyOf | Not | Condition, Field(discriminator="kind")]
AnyRule = All | AnyOf | Not | Condition

for _model in (All, AnyOf, Not):
    _model.model_rebuild()


def modules_named(rule: AnyRule) -> set[str]:
    """The modules a rule's conditions name (its prerequisites)."""
    if isinstance(rule, All | AnyOf):
        return set().union(*(modules_named(child) for child in rule.of))
    if isinstance(rule, Not):
        return modules_named(rule.of)
    module = getattr(rule, "module", None)
    return {module} if isinstance(module, str) else set()


def uses_waiver(rule: AnyRule) -> bool:
    """Whether a waiver can change the rule's answer (else the waivers need not be read)."""
    if isinstance(rule, All | AnyOf):
        return any(uses_waiver(child) for child in rule.of)
    if isinstance(rule, Not):
        return uses_waiver(rule.of)
    return isinstance(rule, WaiverCondition)


def depth(rule: AnyRule) -> int:
    if isinstance(rule, All | AnyOf):
        return 1 + max(depth(child) for child in rule.of)
    if isinstance(rule, Not):
        return 1 + depth(rule.of)
    return 1


def as_json(rule: AnyRule) -> dict[str, object]:
    """The rule as its JSON form (``from`` spelled as on the wire)."""
    return rule.model_dump(mode="json", by_alias=True, exclude_none=True)


def moment(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")
