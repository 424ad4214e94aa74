"""Module statistics from the engine's state, by organisation, profession and period, with groups
of fewer than five learners suppressed."""

from __future__ import annotations

from typing import Any

import pytest

from ccaudit.ingest import Ingestor
from ccaudit.learning.catalogue import parse_catalogue
from ccaudit.learning.stats import SMALL, StatsQuery, module_statistics, suppress
from ccaudit.settings import Settings
from ccaudit.store import Store
from tests.ingest.test_pipeline import batch
from tests.learning.events import learning

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
