"""The learning state the engine keeps at insert time: right whatever the order, batching and
duplication of the events, and the same before and after the engine merges its parts."""

from __future__ import annotations

import random
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccaudit.ingest import Ingestor
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.learning import LessonState, Profile, learner_profile, learner_state
from ccaudit.store.migrate import migrate, migrations_dir
from tests.ingest.test_pipeline import batch
from tests.learning.events import T0, learning


def fresh_store(client: Client) -> Store:
    store = Store(client, f"t_{uuid.uuid4().hex[:12]}")
    store.migrate()
    return store


@pytest.fixture(scope="module")
def two_stores(chdb_client: Client) -> tuple[Ingestor, Ingestor]:
    return Ingestor(Settings(), fresh_store(chdb_client)), Ingestor(Settings(), fresh_store(chdb_client))


def _ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def expected(events: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The state by a plain fold over the events, to hold the engine's to."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for e in events:
        s = out.setdefault((e["module"], e["lesson"]), {"times": [], "progress": 0, "completed": [], "passed": [],
                                                         "score": [], "failed": False, "latest": []})  # fmt: skip
        key = (e["event_time"], e["event_id"])
        s["times"].append(e["event_time"])
        if e["verb"] in ("completed", "passed"):
            s["progress"] = 100
        elif e["verb"] == "progressed":
            s["progress"] = max(s["progress"], e["progress"])
        if e["verb"] in ("completed", "passed"):
            s[e["verb"]].append(key)
        if "score" in e:
            s["score"].append(e["score"])
        s["failed"] = s["failed"] or e["verb"] == "failed"
        s["latest"].append((key, e["profession"], e["organisation"]))
    return {
        k: {
            "first_seen": min(s["times"]), "last_seen": max(s["times"]), "best_progress": s["progress"],
            "first_completed": min(s["completed"])[0] if s["completed"] else None,
            "completed_event": str(min(s["completed"])[1]) if s["completed"] else None,
            "first_passed": min(s["passed"])[0] if s["passed"] else None,
            "passed_event": str(min(s["passed"])[1]) if s["passed"] else None,
            "best_score": max(s["score"]) if s["score"] else None, "failed": s["failed"],
            "profession": max(s["latest"])[1], "organisation": max(s["latest"])[2],
        }
        for k, s in out.items()
    }  # fmt: skip


def observed(states: list[LessonState]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (s.module, s.lesson): {
            "first_seen": _ms(s.first_seen), "last_seen": _ms(s.last_seen), "best_progress": s.best_progress,
            "first_completed": _ms(s.first_completed), "completed_event": s.completed_event,
            "first_passed": _ms(s.first_passed), "passed_event": s.passed_event, "best_score": s.best_score,
            "failed": s.failed, "profession": s.profession, "organisation": s.organisation,
        }
        for s in states
    }  # fmt: skip


VERBS = ["registered", "initialized", "progressed", "completed", "passed", "failed", "terminated"]
step = st.tuples(
    st.sampled_from(VERBS),
    st.sampled_from(["m1", "m2"]),
    st.sampled_from(["", "l1", "l2"]),
    st.integers(0, 20),  # seconds after T0: equal times are frequent, and must still give one answer
    st.integers(0, 100),
    st.sampled_from([-1.0, -0.25, 0.0, 0.5, 1.0]),
    st.sampled_from(["teacher", "student", "employee"]),
    st.sampled_from(["org-a", "org-b"]),
)


def events_of(learner: str, steps: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    out = []
    for verb, module, lesson, at, progress, score, profession, org in steps:
        fields: dict[str, Any] = {"learner": learner, "module": module, "lesson": lesson, "profession": profession,
                                  "organisation": org}  # fmt: skip
        if verb == "progressed":
            fields["progress"] = progress
        if verb in ("passed", "failed"):
            fields["score"] = score
        out.append(learning(verb, at, **fields))
    return out


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=12), seed=st.integers(0, 2**32))
def test_the_state_is_independent_of_order_batching_and_duplication(
    two_stores: tuple[Ingestor, Ingestor], steps: list[tuple[Any, ...]], seed: int
) -> None:
    first, second = two_stores
    learner = f"learner-{uuid.uuid4().hex[:10]}"
    events = events_of(learner, steps)
    first.ingest(batch(events))
    # The same events again, shuffled, some twice, in batches of random sizes, one of them resent whole.
    rng = random.Random(seed)
    replay = [*events, *rng.choices(events, k=len(events))]
    rng.shuffle(replay)
    cuts = sorted(rng.sample(range(1, len(replay)), min(3, len(replay) - 1))) if len(replay) > 1 else []
    parts = [replay[a:b] for a, b in zip([0, *cuts], [*cuts, len(replay)], strict=True)]
    for part in [*parts, parts[0]]:
        second.ingest(batch([dict(e) for e in {e["event_id"]: e for e in part}.values()]))
    one = observed(learner_state(first.store.client, first.store.database, "coop", learner))
    two = observed(learner_state(second.store.client, second.store.database, "coop", learner))
    assert one == two
    assert one == expected(events)
    # The learner's latest organisation and profession: those of the event with the greatest (time, id).
    latest = max(events, key=lambda e: (e["event_time"], e["event_id"]))
    profiles = {learner_profile(i.store.client, i.store.database, "coop", learner) for i in (first, second)}
    assert profiles == {Profile(latest["organisation"], latest["profession"])}


def test_the_state_reads_the_same_before_and_after_the_engine_merges(store: Store) -> None:
    ingestor = Ingestor(Settings(), store)
    for n, verb in enumerate(["registered", "initialized", "progressed", "failed", "passed", "completed"]):
        ingestor.ingest(batch([learning(verb, n, lesson="l1" if n else "")]))
    before = learner_state(store.client, store.database, "coop", "learner-1")
    profile = learner_profile(store.client, store.database, "coop", "learner-1")
    store.client.command(f"OPTIMIZE TABLE {store.database}.learning_state FINAL")
    store.client.command(f"OPTIMIZE TABLE {store.database}.learning_learners FINAL")
    parts = store.client.command(
        f"SELECT count() FROM system.parts WHERE database = '{store.database}' AND table = 'learning_state' AND active"
    )
    assert int(parts) == 1
    assert learner_state(store.client, store.database, "coop", "learner-1") == before
    assert learner_profile(store.client, store.database, "coop", "learner-1") == profile != Profile("", "")
    [module, lesson] = before
    assert module.first_registered == datetime.fromtimestamp(T0 / 1000, UTC)
    assert (lesson.best_progress, lesson.failed, lesson.best_score) == (100, True, 0.8)
    assert lesson.first_started == datetime.fromtimestamp((T0 + 1000) / 1000, UTC)


def test_learners_stored_before_the_learners_table_are_filled_in_by_its_migration(
    chdb_client: Client, tmp_path: Path
) -> None:
    """Migration 0044 fills learning_learners from learning_state: each learner's latest cell, with any
    correction made there; a later event then wins over what it filled in."""
    folder = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), folder)
    later = sorted(p.name for p in folder.glob("*.sql") if p.name >= "0044")
    for name in later:
        (folder / name).rename(tmp_path / name)
    store = Store(chdb_client, f"t_{uuid.uuid4().hex[:12]}")
    migrate(store.client, store.database, folder)
    ingestor = Ingestor(Settings(), store)
    ingestor.ingest(batch([learning("initialized", 0, learner="a", lesson="l1", organisation="org-a"),
                           learning("completed", 5, learner="a", lesson="l2", organisation="org-b",
                                    profession="student"),
                           learning("initialized", 9, learner="b", lesson="l1")]))  # fmt: skip
    for name in later:
        (tmp_path / name).rename(folder / name)
    assert [m.name for m in migrate(store.client, store.database, folder)] == [n[5:-4] for n in later]
    assert learner_profile(store.client, store.database, "coop", "a") == Profile("org-b", "student")
    assert learner_profile(store.client, store.database, "coop", "b") == Profile("org-a", "teacher")
    ingestor.ingest(batch([learning("progressed", 6, learner="a", lesson="l1", organisation="org-c", progress=5)]))
    assert learner_profile(store.client, store.database, "coop", "a") == Profile("org-c", "teacher")


def test_the_engine_merges_the_state_by_itself_once_its_parts_are_ten_minutes_old(chdb_client: Client) -> None:
    """Migration 0045: the engine's size-based merges alone leave the state in parts of unequal sizes,
    which every read merges again; both tables are set to be merged in the background once their
    parts are all 10 minutes old (docs/operations.md)."""
    store = fresh_store(chdb_client)
    for table in ("learning_state", "learning_learners"):
        create = store.client.command(
            "SELECT create_table_query FROM system.tables WHERE database = {db:String} AND name = {table:String}",
            parameters={"db": store.database, "table": table},
        )
        assert "min_age_to_force_merge_seconds = 600" in str(create), table
