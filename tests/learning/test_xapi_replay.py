"""Replay of a batch of statements shaped as cmi5 content and its LMS send them (``xapi/``): the LMS's
``launched`` (its local time with an offset), each AU's initialized, progressed, completed, failed,
passed and terminated (UTC with milliseconds, ISO 8601 durations, the cmi5 categories, session and
mastery-score extensions), a cmi5-allowed ``answered`` with a free-text response, and the LMS's
``satisfied`` for the course. Posted as one batch with HTTP Basic, as an LMS plugin does: the learning
state, the eligibility of the follow-up module, and what is not stored.

The fixture's timestamps lie on two anchor days; the test moves them to the two days before today,
so that no retention and no accepted-time window depends on the day the suite runs."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ccaudit.access import ApiTokenStore
from ccaudit.service.app import create_app
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.learning import learner_state
from ccaudit.store.tokens import TokenStore
from tests.service.test_observability import call

FIXTURE = Path(__file__).with_name("xapi") / "cmi5_privacy_101.json"
CATALOGUE = Path(__file__).parents[2] / "middleware" / "flask_kit" / "catalogue.json"
# The fixture's days; they are replaced, so they never meet a clock.
ANCHORS = ("2015-06-01", "2015-06-02")
LEARNER = "8101"


def replayable() -> list[dict[str, Any]]:
    """The fixture with its first day moved to the day before yesterday and its second to yesterday,
    each timestamp keeping its own form (offset, milliseconds)."""
    today = datetime.now(UTC).date()
    days = {anchor: (today - timedelta(days=2 - n)).isoformat() for n, anchor in enumerate(ANCHORS)}
    statements: list[dict[str, Any]] = json.loads(FIXTURE.read_text())
    for statement in statements:
        stamp = statement["timestamp"]
        statement["timestamp"] = days[stamp[:10]] + stamp[10:]
    return statements


def by_verb(statements: list[dict[str, Any]], verb: str, au: str = "") -> list[dict[str, Any]]:
    return [s for s in statements if s["verb"]["id"].endswith("/" + verb) and s["object"]["id"].endswith(au)]


@pytest.fixture
def service(store: Store, tmp_path: Path) -> Any:
    app = create_app(Settings(learning_catalogue_file=CATALOGUE, data_dir=tmp_path), store)
    yield app
    app.state.own_trail.shutdown(10)


def test_a_cmi5_batch_sets_the_learning_state_and_opens_the_follow_up_module(store: Store, service: Any) -> None:
    ingest = TokenStore(store.client, store.database).create("learning")[0]
    reader = ApiTokenStore(store.client, store.database).create_platform_read("learning", ["eligibility:read"])[0]
    statements = replayable()
    basic = {"Authorization": "Basic " + base64.b64encode(f"moodle-site:{ingest}".encode()).decode(),
             "X-Experience-API-Version": "1.0.3"}  # fmt: skip
    posted = call(service, "POST", "/xapi/statements", json=statements, headers=basic)
    assert posted.status_code == 200, posted.text
    assert posted.json() == [s["id"] for s in statements]

    # Stored: every statement whose verb carries progress; acknowledged only: launched, experienced, answered.
    rows = store.client.query(f"SELECT * FROM {store.database}.learning_events ORDER BY event_time")
    stored = [dict(zip(rows.column_names, r, strict=True)) for r in rows.result_rows]
    ignored = {s["id"] for verb in ("launched", "experienced", "answered") for s in by_verb(statements, verb)}
    assert len(ignored) == 5
    assert {str(r["event_id"]) for r in stored} == {s["id"] for s in statements} - ignored
    assert {r["learner"] for r in stored} == {LEARNER}
    assert {r["registration"] for r in stored} == {statements[0]["context"]["registration"]}
    # Nothing of the actor's name or of the free-text answer, in any column.
    text = json.dumps(stored, default=str)
    assert "Jan Jansen" not in text
    assert "DPO" not in text

    events = {str(r["event_id"]): r for r in stored}
    [completed_intro] = by_verb(statements, "completed", "/au/intro")
    assert events[completed_intro["id"]]["duration_ms"] == pytest.approx(9 * 60_000 + 10_370)
    [satisfied] = by_verb(statements, "satisfied")
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    # Sent as 10:38:32+02:00 by the LMS: stored in UTC.
    assert events[satisfied["id"]]["event_time"] == datetime.combine(yesterday, datetime.min.time()).replace(
        hour=8, minute=38, second=32
    )
    assert (events[satisfied["id"]]["module"], events[satisfied["id"]]["lesson"]) == ("privacy-101", "")
    [progressed] = by_verb(statements, "progressed")
    assert events[progressed["id"]]["progress"] == 60

    state = {s.lesson: s for s in learner_state(store.client, store.database, "learning", LEARNER)}
    assert set(state) == {"", "intro", "cases", "quiz"}
    assert state["intro"].best_progress == 100
    assert state["intro"].completed_event == completed_intro["id"]
    [passed] = by_verb(statements, "passed")
    assert (state["quiz"].best_score, state["quiz"].failed, state["quiz"].passed_event) == (0.9, True, passed["id"])
    assert state["quiz"].first_passed is not None
    assert state["quiz"].first_passed.date() == yesterday
    assert state["quiz"].first_completed is None  # passing is not completing: the quiz's moveOn is Passed

    answer = call(service, "GET", f"/v1/eligibility/{LEARNER}/privacy-201", params={"view": "full"},
                  headers={"Authorization": f"Bearer {reader}"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["eligible"] is True
    module = body["tree"]["of"][0]
    assert module["reason"]["en"] == "module privacy-101 (moveOn): 3 of 3 required lessons met"
    [completed_cases] = by_verb(statements, "completed", "/au/cases")
    assert set(module["evidence"]) == {completed_intro["id"], completed_cases["id"], passed["id"]}

    # The LMS sends the batch again (a retry after a timeout): acknowledged, nothing stored twice.
    again = call(service, "POST", "/xapi/statements", json=statements, headers=basic)
    assert again.status_code == 200, again.text
    count = store.client.command(f"SELECT count() FROM {store.database}.learning_events")
    assert count == len(stored)


def test_the_fixture_is_what_content_sends() -> None:
    """The fixture keeps the senders' shapes that the mapping must take as they are."""
    statements = json.loads(FIXTURE.read_text())
    assert all(uuid.UUID(s["id"]) and s["actor"]["account"]["name"] == LEARNER for s in statements)
    assert {s["timestamp"][:10] for s in statements} == set(ANCHORS)
    assert any(s["timestamp"].endswith("+02:00") for s in statements)  # the LMS's local time
    assert any(s["timestamp"].endswith("Z") and "." in s["timestamp"] for s in statements)  # the AU's
    assert all(date.fromisoformat(anchor) < date(2020, 1, 1) for anchor in ANCHORS)
