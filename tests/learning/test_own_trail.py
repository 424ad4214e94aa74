"""The service's own audit events (eligibility granted): kept in the service's spool before the
answer, stored once through the ingest pipeline, by the next start if the service stopped first."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ccaudit.store import Store
from tests.learning.test_eligibility_api import World, finish_basics, learner_id


def granted(world: World, learner: str) -> None:
    answer = world.get("platform", f"/v1/eligibility/{learner}/advanced")
    assert answer.status_code == 200, answer.text
    assert answer.json()["eligible"] is True


def test_a_grant_is_in_the_spool_before_the_answer_and_stored_once_after_a_restart(
    store: Store, tmp_path: Path
) -> None:
    # A flush interval longer than the test: this service stores nothing of its own accord.
    first = World(store, tmp_path, flush_interval=300)
    learner = learner_id()
    finish_basics(first, learner)
    granted(first, learner)
    trail = first.app.state.own_trail
    [recorder] = trail._recorders.values()
    assert recorder.stats()["kept"] == 1  # in the spool on the answer's path, not inserted by it
    assert (tmp_path / "spool" / store.database / "coop.sqlite3").is_file()

    # The next service on the same data folder finds the spool at its start and stores what it holds,
    # once, whether or not the first one got to it.
    second = World(store, tmp_path)

    async def lifespan() -> None:
        async with second.app.router.lifespan_context(second.app):
            assert second.app.state.own_trail.force_flush(60)

    try:
        asyncio.run(lifespan())
        assert trail.force_flush(60)
        rows = [row for row in second.audit("learning.eligibility.granted") if row["subject_id"] == learner]
        assert len(rows) == 1
    finally:
        trail.shutdown(10)


def test_without_a_usable_spool_the_grant_is_stored_before_the_answer(store: Store, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("the data folder's place is taken by a file")
    world = World(store, blocked)
    learner = learner_id()
    finish_basics(world, learner)
    granted(world, learner)
    result = store.client.query(
        f"SELECT count() FROM {store.database}.audit_events WHERE action = 'learning.eligibility.granted' "
        "AND subject_id = {s:String}",
        parameters={"s": learner},
    )
    assert result.result_rows[0][0] == 1  # no flush asked: it was inserted on the answer's path
