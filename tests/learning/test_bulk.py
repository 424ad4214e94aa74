"""Bulk eligibility in the engine agrees with the Python evaluator, learner by learner, for random
rules and histories (the SQL is generated from the same tree, with bound parameters)."""

from __future__ import annotations

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
from ccaudit.store.learning import learner_state
from tests.ingest.test_pipeline import batch
from tests.learning.events import learning
from tests.learning.test_rules import NOW, histories, trees


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
@given(rule=trees, people=learners)
def test_the_engine_and_the_evaluator_agree_on_who_is_eligible(
    world: tuple[Store, Ingestor, Waivers], rule: dict[str, Any], people: list[tuple[Any, str, bool]]
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
    ingestor.ingest(batch(events, platform=platform))
    expected = []
    for n, (_, _, waived) in enumerate(people):
        learner = f"learner-{n}"
        states = learner_state(store.client, store.database, platform, learner)
        latest = max(states, key=lambda s: (s.last_seen, s.module, s.lesson))
        waiver = waivers.waiver_for(platform, learner, "t")
        assert (waiver is not None) == waived
        if latest.organisation == "org-a" and evaluate(catalogue.modules["t"].rule, catalogue,
                                                       Facts.of(states, NOW, waiver)).passed:  # fmt: skip
            expected.append(learner)
    assert eligible_learners(store, catalogue, platform, "org-a", "t", NOW) == expected


def test_values_are_bound_never_written_into_the_sql() -> None:
    hostile = "l1') OR 1=1 --"
    catalogue = parse_catalogue({"version": 1, "modules": {"m": {"lessons": [{"id": "x"}]}}})
    sql, params = compile_rule(LessonCondition(kind="lesson", module="m", lesson=hostile), catalogue, "db", NOW)
    assert hostile not in sql
    assert hostile in params.values()
