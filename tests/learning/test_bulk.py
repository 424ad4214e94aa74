"""Bulk eligibility in the engine agrees with the Python evaluator, learner by learner, for random
rules and histories (the SQL is generated from the same tree, with bound parameters). Histories are
stored in several inserts, so the engine's state holds cells not merged yet, as it does in service."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccaudit.ingest import Ingestor
from ccaudit.learning.bulk import compile_rule, eligible_learners
from ccaudit.learning.catalogue import parse_catalogue
from ccaudit.learning.evaluate import Facts, evaluate
from ccaudit.learning.records import Waivers
from ccaudit.learning.rules import LessonCondition
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.learning import learner_profile, learner_state
from tests.ingest.test_pipeline import batch
from tests.learning.events import learning
from tests.learning.test_rules import DONE_SETS, MOVE_ONS, NOW, histories, trees


@pytest.fixture(scope="module")
def world(chdb_client: Client) -> tuple[Store, Ingestor, Waivers]:
    store = Store(chdb_client, f"t_{uuid.uuid4().hex[:12]}")
    store.migrate()
    return store, Ingestor(Settings(), store), Waivers(store)


def catalogue_with(rule: dict[str, Any]) -> Any:
    return parse_catalogue({"version": 1, "modules": {
        "m1": {"lessons": [{"id": "l1"}, {"id": "l2", "move_on": "Passed"}, {"id": "l3", "required": False}]},
        "m2": {}, "t": {"lessons": [{"id": "x"}], "rule": rule}}})  # fmt: skip


learners = st.lists(st.tuples(histories, st.sampled_from(["org-a", "org-b"]), st.booleans()), min_size=1, max_size=4)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rule=trees, people=learners, inserts=st.integers(1, 3))
def test_the_engine_and_the_evaluator_agree_on_who_is_eligible(
    world: tuple[Store, Ingestor, Waivers], rule: dict[str, Any], people: list[tuple[Any, str, bool]], inserts: int
) -> None:
    store, ingestor, waivers = world
    platform = f"p{uuid.uuid4().hex[:10]}"
    catalogue = catalogue_with(rule)
    events = []
    for n, (steps, organisation, waived) in enumerate(people):
        learner = f"learner-{n}"
        for verb, (module, lesson), at, score, profession in steps:
            fields: dict[str, Any] = {"learner": learner, "module": module, "lesson": lesson,
                                      "profession": profession, "organisation": organisation}  # fmt: skip
            if verb in ("passed", "failed"):
                fields["score"] = score
            events.append(learning(verb, at, **fields))
        # Every learner is known to the engine: one event in the target module, from their organisation.
        events.append(learning("registered", 40 + n, learner=learner, module="t", lesson="", organisation=organisation))
        if waived:
            waivers.grant(platform, learner, "t", organisation, "equivalent", "manager", 730)
    for part in range(inserts):
        ingestor.ingest(batch(events[part::inserts], platform=platform))
    expected = []
    for n, (_, _, waived) in enumerate(people):
        learner = f"learner-{n}"
        states = learner_state(store.client, store.database, platform, learner)
        profile = learner_profile(store.client, store.database, platform, learner)
        waiver = waivers.waiver_for(platform, learner, "t")
        assert (waiver is not None) == waived
        if profile.organisation == "org-a" and evaluate(catalogue.modules["t"].rule, catalogue,
                                                        Facts.of(states, NOW, waiver, profile.profession)).passed:  # fmt: skip
            expected.append(learner)
    assert eligible_learners(store, catalogue, platform, "org-a", "t", NOW) == expected


def test_values_are_bound_never_written_into_the_sql() -> None:
    hostile = "l1') OR 1=1 --"
    catalogue = parse_catalogue({"version": 1, "modules": {"m": {"lessons": [{"id": "x"}]}}})
    compiled = compile_rule(LessonCondition(kind="lesson", module="m", lesson=hostile), catalogue, NOW)
    assert hostile not in compiled.condition + "".join(compiled.atoms)
    assert hostile in compiled.params.values()


def test_module_conditions_agree_for_every_small_history(world: tuple[Store, Ingestor, Waivers]) -> None:
    """Every combination of verbs on m1's two required lessons and on m2 itself, one learner each, for
    every moveOn: the engine and the evaluator name the same learners."""
    store, ingestor, _ = world
    platform = f"p{uuid.uuid4().hex[:10]}"
    events = []
    combos = list(itertools.product(DONE_SETS, repeat=2))
    for n, (l1, l2) in enumerate(combos):
        who = {"learner": f"learner-{n:03d}", "organisation": "org-a"}
        events += [learning(verb, i, module="m1", lesson="l1", **who) for i, verb in enumerate(sorted(l1))]
        events += [learning(verb, 10 + i, module="m1", lesson="l2", **who) for i, verb in enumerate(sorted(l2))]
        events += [learning(verb, 20 + i, module="m2", lesson="", **who) for i, verb in enumerate(sorted(l2))]
        events.append(learning("registered", 40, module="t", lesson="", **who))
    events = [{**e, "score": 0.5} if e["verb"] in ("passed", "failed") else e for e in events]
    # The events in three inserts: a cell is partial rows until the engine merges them.
    for part in range(3):
        ingestor.ingest(batch(events[part::3], platform=platform))
    states = {f"learner-{n:03d}": learner_state(store.client, store.database, platform, f"learner-{n:03d}")
              for n in range(len(combos))}  # fmt: skip
    for move_on in MOVE_ONS:
        for module in ("m1", "m2"):
            catalogue = catalogue_with({"kind": "module", "module": module, "move_on": move_on})
            rule = catalogue.modules["t"].rule
            assert rule is not None
            expected = [who for who, s in states.items() if evaluate(rule, catalogue, Facts.of(s, NOW)).passed]
            assert eligible_learners(store, catalogue, platform, "org-a", "t", NOW) == expected, (module, move_on)
