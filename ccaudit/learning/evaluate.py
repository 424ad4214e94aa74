"""The rule evaluator: a pure function of the rule, the catalogue and one learner's facts (the
learning state, the latest profession, a waiver, the moment), giving a tree that explains itself:
per node, passed or not, the reason in Dutch, French and English, and the events that prove it.

``all`` passes when every child does, ``any`` when one does, ``not`` when its child does not; the
evidence of a passed ``all`` is its children's, of a passed ``any`` the passing children's.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    as_json,
    moment,
)
from ccaudit.store.learning import LessonState

Reason = dict[str, str]  # language (nl, fr, en) → text


@dataclass(frozen=True, slots=True)
class Waiver:
    """A learning_manager's waiver of a module's rule for one learner."""

    waiver_id: str
    granted_by: str
    reason: str
    granted_at: datetime


@dataclass(frozen=True, slots=True)
class Facts:
    """What the rules of one learner are evaluated over."""

    lessons: Mapping[tuple[str, str], LessonState]
    profession: str
    now: datetime
    waiver: Waiver | None = None

    @classmethod
    def of(
        cls, states: list[LessonState], now: datetime, waiver: Waiver | None = None, profession: str | None = None
    ) -> Facts:
        """The facts of ``states``; ``profession`` is the learner's latest (``learner_profile``), by
        default the profession of their latest state."""
        if profession is None:
            latest = max(states, key=lambda s: (s.last_seen, s.module, s.lesson), default=None)
            profession = latest.profession if latest else ""
        return cls({(s.module, s.lesson): s for s in states}, profession, now, waiver)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One evaluated node."""

    rule: AnyRule
    passed: bool
    reason: Reason
    evidence: tuple[str, ...] = ()
    children: tuple[Outcome, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        node = {k: v for k, v in as_json(self.rule).items() if k != "of"}
        node.update(passed=self.passed, reason=self.reason, evidence=list(self.evidence))
        if self.children:
            node["of"] = [child.as_dict() for child in self.children]
        return node

    def missing(self) -> Outcome | None:
        """Only what is still missing: None when passed; else this node, pruned to failed children."""
        if self.passed:
            return None
        if isinstance(self.rule, All | AnyOf):
            kept = tuple(m for m in (child.missing() for child in self.children) if m is not None)
            return Outcome(self.rule, False, self.reason, (), kept)
        return Outcome(self.rule, False, self.reason, (), ())  # a condition, or a not over a passed child


def _r(nl: str, fr: str, en: str) -> Reason:
    return {"nl": nl, "fr": fr, "en": en}


_DONE = {"completed": ("afgerond", "terminé", "completed"), "passed": ("geslaagd", "réussi", "passed")}


def evaluate(rule: AnyRule, catalogue: Catalogue, facts: Facts) -> Outcome:
    """Evaluate ``rule`` for one learner."""
    if isinstance(rule, All):
        children = tuple(evaluate(child, catalogue, facts) for child in rule.of)
        ok = all(c.passed for c in children)
        proof = tuple(e for c in children for e in c.evidence) if ok else ()
        n = sum(c.passed for c in children)
        return Outcome(rule, ok, _r(f"alle voorwaarden ({n} van {len(children)} voldaan)",
                                    f"toutes les conditions ({n} sur {len(children)} remplies)",
                                    f"all conditions ({n} of {len(children)} met)"), proof, children)  # fmt: skip
    if isinstance(rule, AnyOf):
        children = tuple(evaluate(child, catalogue, facts) for child in rule.of)
        ok = any(c.passed for c in children)
        proof = tuple(e for c in children if c.passed for e in c.evidence)
        n = sum(c.passed for c in children)
        return Outcome(rule, ok, _r(
            f"minstens één voorwaarde ({n} van {len(children)} voldaan)",
            f"au moins une condition ({n} sur {len(children)} remplies)",
            f"at least one condition ({n} of {len(children)} met)",
        ), proof, children)  # fmt: skip
    if isinstance(rule, Not):
        child = evaluate(rule.of, catalogue, facts)
        return Outcome(rule, not child.passed, _r(
            "niet: " + child.reason["nl"], "non : " + child.reason["fr"], "not: " + child.reason["en"]
        ), child.evidence, (child,))  # fmt: skip
    return _condition(rule, catalogue, facts)


def _lesson_done(state: LessonState | None, how: str) -> str | None:
    """The id of the event proving the lesson ``how`` (completed or passed); None if it is not."""
    if state is None:
        return None
    if how == "completed":
        return state.completed_event if state.first_completed is not None else None
    return state.passed_event if state.first_passed is not None else None


def move_on_met(state: LessonState | None, move_on: MoveOn) -> tuple[bool, tuple[str, ...]]:
    """cmi5's moveOn for one lesson: met or not, and the events that prove it. A waived lesson meets it."""
    if move_on == "NotApplicable":
        return True, ()
    if state is not None and state.first_waived is not None and state.waived_event is not None:
        return True, (state.waived_event,)
    completed, passed = _lesson_done(state, "completed"), _lesson_done(state, "passed")
    if move_on == "Completed":
        return completed is not None, tuple(e for e in (completed,) if e)
    if move_on == "Passed":
        return passed is not None, tuple(e for e in (passed,) if e)
    if move_on == "CompletedAndPassed":
        ok = completed is not None and passed is not None
        return ok, tuple(e for e in (completed, passed) if e) if ok else ()
    ok = completed is not None or passed is not None
    return ok, tuple(e for e in (completed, passed) if e)


def _condition(rule: AnyRule, catalogue: Catalogue, facts: Facts) -> Outcome:
    if isinstance(rule, LessonCondition):
        proof = _lesson_done(facts.lessons.get((rule.module, rule.lesson)), rule.state)
        nl, fr, en = _DONE[rule.state]
        neg = ("", "", "") if proof else ("niet ", "pas ", "not ")
        return Outcome(rule, proof is not None, _r(
            f"les {rule.lesson} van module {rule.module} {neg[0]}{nl}",
            f"leçon {rule.lesson} du module {rule.module} {neg[1]}{fr}",
            f"lesson {rule.lesson} of module {rule.module} {neg[2]}{en}",
        ), (proof,) if proof else ())  # fmt: skip
    if isinstance(rule, LessonsCondition):
        module = catalogue.modules[rule.module]
        pool = module.lessons if rule.at_least is not None else module.required()
        done = {les.id: _lesson_done(facts.lessons.get((rule.module, les.id)), rule.state) for les in pool}
        proofs = tuple(p for p in done.values() if p)
        need = rule.at_least if rule.at_least is not None else len(pool)
        nl, fr, en = _DONE[rule.state]
        return Outcome(rule, len(proofs) >= need, _r(
            f"{len(proofs)} van de nodige {need} lessen van module {rule.module} {nl}",
            f"{len(proofs)} des {need} leçons requises du module {rule.module} {fr}",
            f"{len(proofs)} of the {need} lessons needed of module {rule.module} {en}",
        ), proofs)  # fmt: skip
    if isinstance(rule, ModuleCondition):
        return _module(rule, catalogue, facts)
    if isinstance(rule, ScoreCondition):
        state = facts.lessons.get((rule.module, rule.lesson))
        score = state.best_score if state is not None else None
        ok = score is not None and rule.min <= score <= rule.max
        what = f"{rule.lesson} van {rule.module}" if rule.lesson else rule.module
        quoi = f"{rule.lesson} du {rule.module}" if rule.lesson else rule.module
        whom = f"{rule.lesson} of {rule.module}" if rule.lesson else rule.module
        have = ("geen", "aucun", "none") if score is None else (f"{score:g}",) * 3
        low, high = f"{rule.min:g}", f"{rule.max:g}"
        return Outcome(rule, ok, _r(
            f"beste score voor {what}: {have[0]}, nodig {low} tot {high}",
            f"meilleur score pour {quoi} : {have[1]}, requis {low} à {high}",
            f"best score for {whom}: {have[2]}, needed {low} to {high}",
        ), (state.score_event,) if ok and state is not None and state.score_event else ())  # fmt: skip
    if isinstance(rule, DateCondition):
        ok = (rule.from_ is None or facts.now >= rule.from_) and (rule.until is None or facts.now < rule.until)
        span = f"{moment(rule.from_) or '…'} .. {moment(rule.until) or '…'}"
        return Outcome(rule, ok, _r(
            f"datum {'binnen' if ok else 'buiten'} {span}", f"date {'dans' if ok else 'hors de'} {span}",
            f"date {'within' if ok else 'outside'} {span}",
        ))  # fmt: skip
    if isinstance(rule, ProfessionCondition):
        ok = facts.profession in rule.any_of
        job, allowed = facts.profession or "?", ", ".join(rule.any_of)
        est = "est" if ok else "n'est pas"
        return Outcome(rule, ok, _r(
            f"beroep {job} {'is' if ok else 'is niet'} een van {allowed}",
            f"profession {job} {est} parmi {allowed}",
            f"profession {job} {'is' if ok else 'is not'} one of {allowed}",
        ))  # fmt: skip
    if isinstance(rule, WaiverCondition):
        waiver = facts.waiver
        if waiver is None:
            return Outcome(rule, False, _r("geen vrijstelling", "aucune dispense", "no waiver"))
        return Outcome(rule, True, _r(
            f"vrijstelling door {waiver.granted_by}: {waiver.reason}",
            f"dispense accordée par {waiver.granted_by} : {waiver.reason}",
            f"waiver by {waiver.granted_by}: {waiver.reason}",
        ), (waiver.waiver_id,))  # fmt: skip
    raise TypeError(f"not a rule: {rule!r}")


def _module(rule: ModuleCondition, catalogue: Catalogue, facts: Facts) -> Outcome:
    module = catalogue.modules[rule.module]
    # A module without lessons in the catalogue is judged on its own (module-level) events.
    lessons = [(les.id, rule.move_on or les.move_on) for les in module.required()] or [
        ("", rule.move_on or "Completed")
    ]
    met = [move_on_met(facts.lessons.get((rule.module, lesson)), move_on) for lesson, move_on in lessons]
    done = sum(ok for ok, _ in met)
    ok = done == len(met)
    proofs = tuple(e for _, ev in met for e in ev) if ok else ()
    how = rule.move_on or "moveOn"
    return Outcome(rule, ok, _r(
        f"module {rule.module} ({how}): {done} van {len(met)} verplichte lessen voldaan",
        f"module {rule.module} ({how}) : {done} sur {len(met)} leçons obligatoires remplies",
        f"module {rule.module} ({how}): {done} of {len(met)} required lessons met",
    ), proofs)  # fmt: skip
