"""The learning_manager's console page: a learner's progress, the eligibility tree, and a waiver."""

from __future__ import annotations

import uuid
from html import unescape
from pathlib import Path

from ccaudit.access import AccountStore
from ccaudit.store import Store
from tests.console.browser import Client
from tests.ingest.test_pipeline import batch
from tests.learning.events import learning
from tests.learning.test_eligibility_api import World, finish_basics

PASSWORD = "a password long enough"


def manager(world: World, organisations: list[str]) -> Client:
    name = f"lm-{uuid.uuid4().hex[:6]}"
    AccountStore(world.store.client, world.store.database).create(name, "learning_manager", organisations, PASSWORD)
    client = Client(world.app)
    assert client.login(name, PASSWORD).status_code == 303
    return client


def test_a_learning_manager_sees_progress_the_tree_and_grants_a_waiver(store: Store, tmp_path: Path) -> None:
    world = World(store, tmp_path)
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    finish_basics(world, learner, profession="student")
    client = manager(world, ["org-a"])
    home = client.get("/console")
    assert 'href="/console/learning"' in home.text
    page = client.get(f"/console/learning?platform=coop&learner={learner}&module=advanced",
                      headers={"accept-language": "nl"})  # fmt: skip
    assert page.status_code == 200, page.text
    text = unescape(page.text)
    assert "Geen toegang tot advanced (regelversie 1)." in text
    assert "beroep student is niet een van teacher, employee" in text
    assert "quiz" in text  # the progress table
    csrf = client.csrf(f"/console/learning?platform=coop&learner={learner}&module=advanced")
    granted = client.post("/console/learning/waivers", {"csrf": csrf, "platform": "coop", "learner": learner,
                                                        "module": "advanced", "reason": "equivalent training"})  # fmt: skip
    assert granted.status_code == 200, granted.text
    assert f"Waiver granted: advanced for {learner}." in unescape(granted.text)
    assert "Eligible for advanced (rule version 1)." in unescape(granted.text)
    assert world.audit("learning.waiver.granted")[0]["subject_id"] == learner
    reads = store.client.query(f"SELECT route FROM {store.database}.access_events").result_rows
    assert ("/console/learning",) in reads


def test_a_learner_of_another_organisation_shows_nothing(store: Store, tmp_path: Path) -> None:
    world = World(store, tmp_path)
    learner = f"learner-{uuid.uuid4().hex[:8]}"
    world.ingestor.ingest(batch([learning("completed", 1, learner=learner, organisation="org-b")]))
    client = manager(world, ["org-a"])
    page = client.get(f"/console/learning?platform=coop&learner={learner}")
    assert page.status_code == 200
    assert "No learning events of this learner" in unescape(page.text)
    assert "org-b" not in page.text
