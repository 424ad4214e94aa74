"""The module catalogue: modules, their lessons in order, which are required, each lesson's cmi5
moveOn, and the rule that opens a module (its follow-up relation: a module is a follow-up of every
module its rule names). Versioned: every change is a new, higher ``version``.

    {"version": 3,
     "modules": {
       "basics": {"title": "Basics", "lessons": [{"id": "intro"}, {"id": "quiz", "move_on": "Passed"},
                                                  {"id": "extra", "required": false}]},
       "advanced": {"title": "Advanced",
                    "lessons": [{"id": "a1"}],
                    "rule": {"kind": "module", "module": "basics"}}}}

Validation (``CatalogueError`` names the place): lesson ids unique within a module; a rule names only
modules of the catalogue and lessons of those modules; ``at_least`` no more than the module's lessons;
no module is its own prerequisite, directly or through others (a cycle is named in full).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ccaudit.learning.rules import (
    All,
    AnyOf,
    AnyRule,
    LessonCondition,
    LessonsCondition,
    MoveOn,
    Not,
    Rule,
    ScoreCondition,
    modules_named,
)

_Id = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\s/]+$")]


class CatalogueError(ValueError):
    """A catalogue that cannot be used; the message names where and why."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


_Iri = Annotated[str, Field(min_length=1, max_length=2048, pattern=r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")]


class Lesson(_Frozen):
    id: _Id
    title: Annotated[str, Field(max_length=512)] = ""
    # The xAPI activity id (an IRI) statements about this lesson name, e.g. a cmi5 AU's id.
    activity_id: _Iri | None = None
    required: bool = True
    move_on: MoveOn = "Completed"


class Module(_Frozen):
    title: Annotated[str, Field(max_length=512)] = ""
    # The xAPI activity id of the module itself, e.g. a cmi5 course's id.
    activity_id: _Iri | None = None
    lessons: Annotated[tuple[Lesson, ...], Field(max_length=10_000)] = ()
    rule: Rule | None = None

    @model_validator(mode="after")
    def _unique_lessons(self) -> Module:
        seen: set[str] = set()
        for lesson in self.lessons:
            if lesson.id in seen:
                raise ValueError(f"lessons: {lesson.id!r} appears twice")
            seen.add(lesson.id)
        return self

    def lesson_ids(self) -> tuple[str, ...]:
        return tuple(lesson.id for lesson in self.lessons)

    def required(self) -> tuple[Lesson, ...]:
        return tuple(lesson for lesson in self.lessons if lesson.required)


class Catalogue(_Frozen):
    version: Annotated[int, Field(ge=1, le=2**31 - 1)]
    modules: dict[_Id, Module]

    @model_validator(mode="after")
    def _references_and_cycles(self) -> Catalogue:
        for name, module in self.modules.items():
            if module.rule is not None:
                _check_references(self, module.rule, f"modules.{name}.rule")
        seen: dict[str, str] = {}
        for name, module in self.modules.items():
            for where, iri in [
                (name, module.activity_id),
                *((f"{name}.{les.id}", les.activity_id) for les in module.lessons),
            ]:
                if iri is not None and seen.setdefault(iri, where) != where:
                    raise ValueError(f"modules: activity id {iri!r} names both {seen[iri]} and {where}")
        cycle = self._cycle()
        if cycle:
            raise ValueError("modules: a cycle of prerequisites: " + " → ".join(cycle))
        return self

    def activities(self) -> dict[str, tuple[str, str]]:
        """xAPI activity id → (module, lesson); lesson '' for a module's own id."""
        found: dict[str, tuple[str, str]] = {}
        for name, module in self.modules.items():
            if module.activity_id is not None:
                found[module.activity_id] = (name, "")
            for lesson in module.lessons:
                if lesson.activity_id is not None:
                    found[lesson.activity_id] = (name, lesson.id)
        return found

    def prerequisites(self, module: str) -> set[str]:
        rule = self.modules[module].rule
        return modules_named(rule) if rule is not None else set()

    def follow_ups(self, module: str) -> list[str]:
        """The modules whose rule names ``module``."""
        return sorted(name for name in self.modules if module in self.prerequisites(name))

    def _cycle(self) -> list[str]:
        # Depth-first search with colours; the first back edge found is reported as the whole cycle.
        colour: dict[str, int] = {}
        path: list[str] = []

        def visit(node: str) -> list[str]:
            colour[node] = 1
            path.append(node)
            for nxt in sorted(self.prerequisites(node)):
                if colour.get(nxt) == 1:
                    return [*path[path.index(nxt) :], nxt]
                if nxt not in colour:
                    found = visit(nxt)
                    if found:
                        return found
            path.pop()
            colour[node] = 2
            return []

        for name in sorted(self.modules):
            if name not in colour:
                found = visit(name)
                if found:
                    return found
        return []


def _check_references(catalogue: Catalogue, rule: AnyRule, where: str) -> None:
    if isinstance(rule, All | AnyOf):
        for i, child in enumerate(rule.of):
            _check_references(catalogue, child, f"{where}.of.{i}")
        return
    if isinstance(rule, Not):
        _check_references(catalogue, rule.of, f"{where}.of")
        return
    module_name = getattr(rule, "module", None)
    if module_name is None:
        return
    module = catalogue.modules.get(module_name)
    if module is None:
        raise ValueError(f"{where}: unknown module {module_name!r}")
    lesson = getattr(rule, "lesson", "")
    if isinstance(rule, LessonCondition | ScoreCondition) and lesson and lesson not in module.lesson_ids():
        raise ValueError(f"{where}: unknown lesson {lesson!r} of module {module_name!r}")
    if isinstance(rule, LessonsCondition) and rule.at_least is not None and rule.at_least > len(module.lessons):
        raise ValueError(f"{where}: at_least {rule.at_least} but module {module_name!r} has {len(module.lessons)}")


def parse_catalogue(data: Any, source: str = "catalogue") -> Catalogue:
    """A validated catalogue from decoded JSON; raises CatalogueError naming the place."""
    try:
        return Catalogue.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(part) for part in err["loc"] if not str(part).startswith(("function-", "tagged-")))
        raise CatalogueError(f"{source}: {where + ': ' if where else ''}{err['msg']}") from None


def load_catalogue(path: Path) -> Catalogue:
    """Read and validate a catalogue file (JSON). Raises CatalogueError naming the problem."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise CatalogueError(f"cannot read {path}: {exc}") from None
    except ValueError as exc:
        raise CatalogueError(f"{path} is not valid JSON: {exc}") from None
    return parse_catalogue(data, str(path))


EMPTY = Catalogue(version=1, modules={})
