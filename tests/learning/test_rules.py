"""Eligibility rules: the catalogue's validation, the evaluator against a plain reference evaluator
over the raw events for random trees and histories, and the laws of NOT (De Morgan)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from ccaudit.learning.catalogue import CatalogueError, parse_catalogue
from ccaudit.learning.evaluate import Facts, Outcome, Waiver, evaluate
from ccaudit.learning.rules import AnyRule, Rule
from tests.learning.events import T0, learning
from tests.learning.fold import fold

RULE: TypeAdapter[AnyRule] = TypeAdapter(Rule)
NOW = datetime.fromtimestamp(T0 / 1000, UTC) + timedelta(days=1)
CATALOGUE = parse_catalogue({
    "version": 1,
    "modules": {
        "m1": {"lessons": [{"id": "l1"}, {"id": "l2", "move_on": "Passed"}, {"id": "l3", "required": False}]},
        "m2": {},
        "t": {"lessons": [{"id": "x"}], "rule": {"kind": "module", "module": "m1"}},
    },
})  # fmt: skip
LESSONS = {"m1": ["l1", "l2", "l3"], "m2": [""]}
REQUIRED = {"m1": {"l1": "Completed", "l2": "Passed"}, "m2": {"": "Completed"}}


# --- the reference evaluator: straight from the raw events, no state, no shared code -------------


def ref(rule: dict[str, Any], events: list[dict[str, Any]], profession: str, waived: bool) -> bool:
    def did(module: str, lesson: str, verb: str) -> bool:
        return any(e["module"] == module and e["lesson"] == lesson and e["verb"] == verb for e in events)

    def move_on(module: str, lesson: str, how: str) -> bool:
        c, p = did(module, lesson, "completed"), did(module, lesson, "passed")
        return how == "NotApplicable" or did(module, lesson, "waived") or {
            "Completed": c, "Passed": p, "CompletedAndPassed": c and p, "CompletedOrPassed": c or p}[how]  # fmt: skip

    kind = rule["kind"]
    if kind == "all":
        return all(ref(r, events, profession, waived) for r in rule["of"])
    if kind == "any":
        return any(ref(r, events, profession, waived) for r in rule["of"])
    if kind == "not":
        return not ref(rule["of"], events, profession, waived)
    if kind == "lesson":
        return did(rule["module"], rule["lesson"], rule.get("state", "completed"))
    if kind == "lessons":
        verb = rule.get("state", "completed")
        if rule.get("at_least") is None:
            return all(did(rule["module"], les, verb) for les in REQUIRED[rule["module"]])
        return sum(did(rule["module"], les, verb) for les in LESSONS[rule["module"]]) >= rule["at_least"]
    if kind == "module":
        return all(move_on(rule["module"], les, rule.get("move_on") or own)
                   for les, own in REQUIRED[rule["module"]].items())  # fmt: skip
    if kind == "score":
        scores = [e["score"] for e in events if (e["module"], e["lesson"]) == (rule["module"], rule["lesson"])
                  and "score" in e]  # fmt: skip
        return bool(scores) and rule["min"] <= max(scores) <= rule["max"]
    if kind == "date":
        start = datetime.fromisoformat(rule["from"]) if "from" in rule else None
        end = datetime.fromisoformat(rule["until"]) if "until" in rule else None
        return (start is None or start <= NOW) and (end is None or end > NOW)
    if kind == "profession":
        return profession in rule["any_of"]
    if kind == "waiver":
        return waived
    raise AssertionError(kind)


# --- random rules and histories ---------------------------------------------------------------------

lesson_of_m1 = st.sampled_from(["l1", "l2", "l3"])
conditions = st.one_of(
    st.builds(lambda les, s: {"kind": "lesson", "module": "m1", "lesson": les, "state": s}, lesson_of_m1,
              st.sampled_from(["completed", "passed"])),
    st.builds(lambda s, n: {"kind": "lessons", "module": "m1", "state": s, "at_least": n},
              st.sampled_from(["completed", "passed"]), st.one_of(st.none(), st.integers(1, 3))),
    st.builds(lambda m, mo: {"kind": "module", "module": m, "move_on": mo}, st.sampled_from(["m1", "m2"]),
              st.sampled_from([None, "Completed", "Passed", "CompletedAndPassed", "CompletedOrPassed",
                               "NotApplicable"])),
    st.builds(lambda les, a, b: {"kind": "score", "module": "m1", "lesson": les, "min": min(a, b), "max": max(a, b)},
              lesson_of_m1, st.sampled_from([-1.0, 0.0, 0.5, 1.0]), st.sampled_from([-1.0, 0.25, 0.75, 1.0])),
    st.builds(lambda d: {"kind": "date", "from": (NOW + timedelta(days=d)).isoformat()}, st.integers(-2, 2)),
    st.builds(lambda d: {"kind": "date", "until": (NOW + timedelta(days=d)).isoformat()}, st.integers(-2, 2)),
    st.builds(lambda ps: {"kind": "profession", "any_of": ps},
              st.lists(st.sampled_from(["teacher", "student", "employee"]), min_size=1, max_size=2, unique=True)),
    st.just({"kind": "waiver"}),
)  # fmt: skip
trees = st.recursive(
    conditions,
    lambda inner: st.one_of(
        st.builds(lambda xs: {"kind": "all", "of": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"kind": "any", "of": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda x: {"kind": "not", "of": x}, inner),
    ),
    max_leaves=8,
)
step = st.tuples(
    st.sampled_from(["initialized", "progressed", "completed", "passed", "failed", "waived"]),
    st.sampled_from([("m1", "l1"), ("m1", "l2"), ("m1", "l3"), ("m2", "")]),
    st.integers(0, 30),
    st.sampled_from([-0.5, 0.0, 0.3, 0.6, 0.9, 1.0]),
    st.sampled_from(["teacher", "student", "employee"]),
)
histories = st.lists(step, max_size=12)


def events_of(steps: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    out = []
    for verb, (module, lesson), at, score, profession in steps:
        fields: dict[str, Any] = {"module": module, "lesson": lesson, "profession": profession}
        if verb in ("passed", "failed"):
            fields["score"] = score
        out.append(learning(verb, at, **fields))
    return out


def facts_of(events: list[dict[str, Any]], waived: bool) -> tuple[Facts, str]:
    waiver = Waiver("w-1", "manager", "equivalent training", NOW) if waived else None
    facts = Facts.of(fold(events), NOW, waiver)
    return facts, facts.profession


def run(rule: dict[str, Any], facts: Facts) -> Outcome:
    return evaluate(RULE.validate_python(rule), CATALOGUE, facts)


@settings(max_examples=300, deadline=None)
@given(rule=trees, steps=histories, waived=st.booleans())
def test_the_evaluator_agrees_with_the_reference_for_random_trees_and_histories(
    rule: dict[str, Any], steps: list[tuple[Any, ...]], waived: bool
) -> None:
    events = events_of(steps)
    facts, profession = facts_of(events, waived)
    outcome = run(rule, facts)
    assert outcome.passed == ref(rule, events, profession, waived)
    # Only what is missing: nothing when passed, else a tree of failed nodes only.
    missing = outcome.missing()
    assert (missing is None) == outcome.passed
    stack = [missing] if missing else []
    while stack:
        node = stack.pop()
        assert node is not None
        assert not node.passed
        stack.extend(node.children)


@settings(max_examples=200, deadline=None)
@given(a=trees, b=trees, steps=histories, waived=st.booleans())
def test_not_laws_double_negation_and_de_morgan(
    a: dict[str, Any], b: dict[str, Any], steps: list[tuple[Any, ...]], waived: bool
) -> None:
    facts, _ = facts_of(events_of(steps), waived)

    def ok(rule: dict[str, Any]) -> bool:
        return run(rule, facts).passed

    def neg(rule: dict[str, Any]) -> dict[str, Any]:
        return {"kind": "not", "of": rule}

    assert ok(neg(neg(a))) == ok(a)
    assert ok(neg(a)) != ok(a)
    assert ok(neg({"kind": "all", "of": [a, b]})) == ok({"kind": "any", "of": [neg(a), neg(b)]})
    assert ok(neg({"kind": "any", "of": [a, b]})) == ok({"kind": "all", "of": [neg(a), neg(b)]})


def test_a_passed_tree_names_the_events_that_prove_it() -> None:
    events = [learning("completed", 1, module="m1", lesson="l1"), learning("passed", 2, module="m1", lesson="l2"),
              learning("completed", 3, module="m1", lesson="l1")]  # fmt: skip
    facts, _ = facts_of(events, waived=False)
    outcome = run({"kind": "module", "module": "m1"}, facts)
    assert outcome.passed
    assert set(outcome.evidence) == {events[0]["event_id"], events[1]["event_id"]}  # the first completion
    assert outcome.reason["en"] == "module m1 (moveOn): 2 of 2 required lessons met"
    assert set(outcome.reason) == {"nl", "fr", "en"}


def test_the_learner_view_shows_only_what_is_missing() -> None:
    events = [learning("completed", 1, module="m1", lesson="l1")]
    facts, _ = facts_of(events, waived=False)
    rule = {"kind": "all", "of": [{"kind": "lesson", "module": "m1", "lesson": "l1"},
                                  {"kind": "lesson", "module": "m1", "lesson": "l2", "state": "passed"}]}  # fmt: skip
    outcome = run(rule, facts)
    assert not outcome.passed
    missing = outcome.missing()
    assert missing is not None
    assert [child.as_dict()["lesson"] for child in missing.children] == ["l2"]
    assert missing.children[0].reason["nl"] == "les l2 van module m1 niet geslaagd"


@pytest.mark.parametrize(
    ("modules", "message"),
    [
        ({"a": {"lessons": [{"id": "x"}, {"id": "x"}]}}, "'x' appears twice"),
        ({"a": {"rule": {"kind": "module", "module": "nope"}}}, "modules.a.rule: unknown module 'nope'"),
        ({"a": {"lessons": [{"id": "x"}]}, "b": {"rule": {"kind": "lesson", "module": "a", "lesson": "y"}}},
         "modules.b.rule: unknown lesson 'y' of module 'a'"),
        ({"a": {"rule": {"kind": "all", "of": [{"kind": "module", "module": "b"}]}},
          "b": {"rule": {"kind": "not", "of": {"kind": "module", "module": "c"}}},
          "c": {"rule": {"kind": "module", "module": "a"}}}, "a cycle of prerequisites: a → b → c → a"),
        ({"a": {"rule": {"kind": "module", "module": "a"}}}, "a → a"),
        ({"a": {"lessons": [{"id": "x"}]}, "b": {"rule": {"kind": "lessons", "module": "a", "at_least": 2}}},
         "at_least 2 but module 'a' has 1"),
        ({"a": {"rule": {"kind": "score", "module": "a", "min": 0.9, "max": 0.1}}}, "min is above max"),
        ({"a": {"rule": {"kind": "maybe"}}}, "maybe"),
    ],
)  # fmt: skip
def test_a_bad_catalogue_is_refused_naming_the_problem(modules: dict[str, Any], message: str) -> None:
    with pytest.raises(CatalogueError, match=message.replace("(", r"\(")):
        parse_catalogue({"version": 1, "modules": modules})


def test_follow_ups_are_the_modules_whose_rule_names_a_module() -> None:
    assert CATALOGUE.follow_ups("m1") == ["t"]
    assert CATALOGUE.follow_ups("t") == []


MOVE_ONS = [None, "Completed", "Passed", "CompletedAndPassed", "CompletedOrPassed", "NotApplicable"]
DONE_SETS = [frozenset(s) for s in itertools.chain.from_iterable(
    itertools.combinations(["completed", "passed", "waived", "failed"], k) for k in range(5))]  # fmt: skip


@pytest.mark.parametrize("move_on", MOVE_ONS)
def test_module_conditions_agree_with_the_reference_for_every_small_history(move_on: str | None) -> None:
    """Every combination of verbs on the two required lessons of m1 and on m2 itself: the random
    search above meets some of these rarely."""
    for l1, l2 in itertools.product(DONE_SETS, repeat=2):
        events = [learning(verb, n, module="m1", lesson="l1") for n, verb in enumerate(sorted(l1))]
        events += [learning(verb, 10 + n, module="m1", lesson="l2") for n, verb in enumerate(sorted(l2))]
        events += [learning(verb, 20 + n, module="m2", lesson="") for n, verb in enumerate(sorted(l2))]
        events = [{**e, "score": 0.5} if e["verb"] in ("passed", "failed") else e for e in events]
        facts, profession = facts_of(events, waived=False)
        for module in ("m1", "m2"):
            rule = {"kind": "module", "module": module, "move_on": move_on}
            assert run(rule, facts).passed == ref(rule, events, profession, False), (module, l1, l2)
