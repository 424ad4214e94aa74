"""Module statistics from the engine's state, by organisation, profession and period, with groups
of fewer than five learners suppressed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccaudit.ingest import Ingestor
from ccaudit.learning.catalogue import parse_catalogue
from ccaudit.learning.stats import SMALL, StatsQuery, _figures, module_statistics, suppress
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.learning import LessonState
from tests.ingest.test_pipeline import batch
from tests.learning.events import learning
from tests.learning.fold import fold
from tests.learning.test_rules import events_of, histories

CATALOGUE = parse_catalogue({"version": 1, "modules": {"course": {"lessons": [
    {"id": "l1"}, {"id": "l2", "move_on": "Passed"}, {"id": "l3", "required": False}]}}})  # fmt: skip


def path(learner: str, org: str, profession: str, finish_after: int | None, score: float = 0.5) -> list[dict[str, Any]]:
    """Registered at T0, lesson 1 done at 10 s; the pass of lesson 2 ``finish_after`` seconds in (or never)."""
    common = {"learner": learner, "organisation": org, "profession": profession, "module": "course"}
    events = [learning("registered", 0, lesson="", **common), learning("initialized", 5, lesson="l1", **common),
              learning("completed", 10, lesson="l1", **common)]  # fmt: skip
    if finish_after is not None:
        events += [learning("initialized", 15, lesson="l2", **common),
                   learning("passed", finish_after, lesson="l2", score=score, **common)]  # fmt: skip
    return events


@pytest.fixture(scope="module")
def world_store(chdb_client: Client) -> Store:
    store = Store(chdb_client, f"t_{uuid.uuid4().hex[:12]}")
    store.migrate()
    return store


@pytest.fixture
def stats_store(store: Store) -> Store:
    events = []
    for i in range(5):
        events += path(f"a{i}", "org-a", "teacher", 100 * (i + 1), score=0.2 * i)
    events += path("a-drop", "org-a", "student", None)
    events += path("b0", "org-b", "teacher", 1000) + path("b1", "org-b", "student", None)
    Ingestor(Settings(), store).ingest(batch(events))
    return store


def test_totals_over_the_module(stats_store: Store) -> None:
    [all_] = module_statistics(stats_store, CATALOGUE, StatsQuery("coop", "course"))["groups"]
    assert (all_["learners"], all_["enrolled"], all_["started"], all_["completed"]) == (8, 8, 8, 6)
    assert all_["completion_rate"] == 0.75
    assert all_["median_seconds_to_complete"] in (300.0, 400.0)  # the middle of 100..500 and 1000
    assert all_["average_best_score"] == pytest.approx((0 + 0.2 + 0.4 + 0.6 + 0.8 + 0.5) / 6)
    l1, l2, l3 = all_["lessons"]
    assert (l1["lesson"], l1["reached"], l1["completed"]) == ("l1", 8, 8)
    assert l1["dropped"] == SMALL  # two learners stopped after lesson 1: fewer than five
    assert (l2["reached"], l2["completed"], l2["dropped"]) == (6, 6, 0)
    assert (l3["reached"], l3["completed"], l3["dropped"]) == (0, 0, 0)


def test_by_organisation_a_small_group_is_suppressed(stats_store: Store) -> None:
    groups = module_statistics(stats_store, CATALOGUE, StatsQuery("coop", "course", by="organisation"))["groups"]
    a, b = groups
    assert (a["group"], a["learners"], a["completed"], a["completion_rate"]) == ("org-a", 6, 5, round(5 / 6, 4))
    assert a["median_seconds_to_complete"] == 300.0
    assert b["group"] == "org-b"
    assert (b["learners"], b["completed"], b["completion_rate"], b["median_seconds_to_complete"]) == (
        SMALL, SMALL, None, None)  # fmt: skip
    assert {les["reached"] for les in b["lessons"]} == {SMALL}


def test_by_profession_and_period_and_within_a_scope(stats_store: Store) -> None:
    by_job = module_statistics(stats_store, CATALOGUE, StatsQuery("coop", "course", by="profession"))["groups"]
    assert [(g["group"], g["learners"]) for g in by_job] == [("student", SMALL), ("teacher", 6)]
    [period] = module_statistics(stats_store, CATALOGUE, StatsQuery("coop", "course", by="period"))["groups"]
    assert period["learners"] == 8
    assert len(period["group"]) == 10  # the first day of the month, YYYY-MM-01
    scoped = module_statistics(
        stats_store,
        CATALOGUE,
        StatsQuery("coop", "course", by="organisation", scope_organisations=frozenset({"org-b"})),
    )
    assert [g["group"] for g in scoped["groups"]] == ["org-b"]


def test_a_rate_or_median_from_fewer_than_five_learners_is_left_out() -> None:
    group = {"group": "x", "learners": 9, "enrolled": 9, "started": 9, "completed": 3,
             "median_seconds_to_complete": 12.0, "average_best_score": 0.5, "scored": 3,
             "lessons": [{"lesson": "l", "reached": 9, "completed": 3, "dropped": 6}]}  # fmt: skip
    shown = suppress(group)
    assert (shown["completed"], shown["completion_rate"], shown["median_seconds_to_complete"]) == (SMALL, None, None)
    assert shown["average_best_score"] is None
    assert shown["lessons"] == [{"lesson": "l", "reached": 9, "completed": SMALL, "dropped": 6}]


# --- the figures against a plain count over folded states, for random histories and moveOns ------

MOVE_ONS = ["Completed", "Passed", "CompletedAndPassed", "CompletedOrPassed", "NotApplicable"]


def reference(catalogue: Any, module: str, states: dict[str, list[LessonState]]) -> dict[str, Any]:
    """The figures of ``module`` by a plain count over each learner's folded states (ccaudit.learning.stats'
    definitions, written out without SQL)."""
    spec = catalogue.modules[module]
    order = [les.id for les in spec.lessons]
    required = ([(les.id, les.move_on) for les in spec.required() if les.move_on != "NotApplicable"]
                if spec.lessons else [("", "Completed")])  # fmt: skip
    rows, done_after, scores = [], [], []
    for cells in states.values():
        mine = {s.lesson: s for s in cells if s.module == module}
        if not mine:
            continue
        met: dict[str, datetime | None] = {}
        for lesson, how in required:
            s = mine.get(lesson)
            c, p, w = (s.first_completed, s.first_passed, s.first_waived) if s else (None, None, None)
            both = max(c, p) if c is not None and p is not None else None
            found = {"Completed": [c, w], "Passed": [p, w], "CompletedOrPassed": [c, p, w],
                     "CompletedAndPassed": [w, both]}[how]  # fmt: skip
            met[lesson] = min((m for m in found if m is not None), default=None)
        done = all(m is not None for m in met.values())
        first_at = min(s.first_seen for s in mine.values())
        if done and met:
            done_at = max(m for m in met.values() if m is not None)
            done_after.append(int(done_at.timestamp()) - int(first_at.timestamp()))
        best = max((s.best_score for s in mine.values() if s.best_score is not None), default=None)
        if best is not None:
            scores.append(best)
        reached = [lesson in mine and mine[lesson].first_started is not None for lesson in order]
        furthest = max((i + 1 for i, r in enumerate(reached) if r), default=0)
        rows.append((any(s.first_registered for s in mine.values()), any(s.first_started for s in mine.values()),
                     done, reached, [met.get(lesson) is not None for lesson in order], furthest))  # fmt: skip
    done_after.sort()
    return {
        "group": "all", "learners": len(rows), "enrolled": sum(r[0] for r in rows),
        "started": sum(r[1] for r in rows), "completed": sum(r[2] for r in rows),
        "median_seconds_to_complete": float(done_after[len(done_after) // 2]) if done_after else None,
        "average_best_score": sum(scores) / len(scores) if scores else None, "scored": len(scores),
        "lessons": [{"lesson": lesson, "reached": sum(r[3][i] for r in rows), "completed": sum(r[4][i] for r in rows),
                     "dropped": sum(r[3][i] and not r[2] and r[5] == i + 1 for r in rows)}
                    for i, lesson in enumerate(order)],
    }  # fmt: skip


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(people=st.lists(histories, min_size=1, max_size=6), moves=st.tuples(*[st.sampled_from(MOVE_ONS)] * 2),
       inserts=st.integers(1, 3))  # fmt: skip
def test_the_figures_agree_with_a_plain_count_for_random_histories(
    world_store: Store, people: list[Any], moves: tuple[str, str], inserts: int
) -> None:
    """Every moveOn, histories stored in several inserts (cells the engine has not merged yet)."""
    platform = f"p{uuid.uuid4().hex[:10]}"
    catalogue = parse_catalogue({"version": 1, "modules": {
        "m1": {"lessons": [{"id": "l1", "move_on": moves[0]}, {"id": "l2", "move_on": moves[1]},
                           {"id": "l3", "required": False}]}, "m2": {}}})  # fmt: skip
    events = [{**e, "learner": f"learner-{n}"} for n, steps in enumerate(people) for e in events_of(steps)]
    ingestor = Ingestor(Settings(), world_store)
    for part in range(inserts):
        if events[part::inserts]:
            ingestor.ingest(batch(events[part::inserts], platform=platform))
    states = {f"learner-{n}": fold([e for e in events if e["learner"] == f"learner-{n}"]) for n in range(len(people))}
    for module in ("m1", "m2"):
        expected = reference(catalogue, module, states)
        found = _figures(world_store, catalogue, StatsQuery(platform, module))
        if expected["learners"] == 0:
            assert found == []
            continue
        [group] = found
        assert group == {**expected, "average_best_score": pytest.approx(expected["average_best_score"])}
