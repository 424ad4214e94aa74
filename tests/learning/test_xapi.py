"""xAPI statements from an LMS or a cmi5 relay, in-process on the real engine: mapped onto the learning
stream, all or nothing, idempotent by statement id, and unlocking a follow-up module like any event."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from ccaudit.access import ApiTokenStore
from ccaudit.service.app import create_app
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.tokens import TokenStore
from tests.learning.events import T0
from tests.learning.test_eligibility_api import CATALOGUE
from tests.service.test_observability import call

COURSE = "https://lms.example/course/basics"


def moment(seconds: int) -> str:
    """``seconds`` after T0 as xAPI writes a timestamp."""
    return datetime.fromtimestamp(T0 / 1000 + seconds, UTC).isoformat()


VERBS = "http://adlnet.gov/expapi/verbs/"
EMAIL = "mailto:learner@example.org"


class Lrs:
    def __init__(self, store: Store, folder: Path) -> None:
        self.store = store
        self.app = create_app(Settings(learning_catalogue_file=CATALOGUE, data_dir=folder), store)
        self.token = TokenStore(store.client, store.database).create("coop")[0]
        self.reader = ApiTokenStore(store.client, store.database).create_platform_read("coop", ["eligibility:read"])[0]

    def send(self, method: str, body: Any, *, basic: bool = False, version: str | None = "1.0.3",
             params: dict[str, str] | None = None) -> httpx.Response:  # fmt: skip
        if basic:
            auth = "Basic " + base64.b64encode(f"moodle:{self.token}".encode()).decode()
        else:
            auth = f"Bearer {self.token}"
        headers = {"Authorization": auth, **({"X-Experience-API-Version": version} if version else {})}
        return call(self.app, method, "/xapi/statements", json=body, headers=headers, params=params or {})

    def rows(self) -> list[dict[str, Any]]:
        result = self.store.client.query(f"SELECT * FROM {self.store.database}.learning_events ORDER BY event_time")
        return [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]


@pytest.fixture
def lrs(store: Store, tmp_path: Path) -> Lrs:
    return Lrs(store, tmp_path)


def statement(verb: str, lesson: str, seconds: int, learner: str = "u-4711", **extra: Any) -> dict[str, Any]:
    """A statement as cmi5 content sends it: the AU as object, the course in the grouping."""
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "name": "Ann Example", "mbox": EMAIL,
                  "account": {"homePage": "https://lms.example", "name": learner}},
        "verb": {"id": VERBS + verb, "display": {"en-US": verb}},
        "object": {"objectType": "Activity", "id": f"{COURSE}/au/{lesson}"},
        "timestamp": moment(seconds),
        "context": {"registration": "ec231277-b27b-4c15-8291-d29225b2b8f7",
                    "contextActivities": {"grouping": [{"id": COURSE}]},
                    "extensions": {"urn:ccaudit:profession": "teacher", "urn:ccaudit:organisation": "org-a"}},
        **extra,
    }  # fmt: skip


def course(learner: str) -> list[dict[str, Any]]:
    return [
        {**statement("initialized", "intro", 0, learner)},
        {**statement("experienced", "intro", 1, learner)},
        {**statement("completed", "intro", 2, learner),
         "result": {"completion": True, "duration": "PT4M30S", "response": "free text, never stored"}},
        {**statement("passed", "quiz", 3, learner),
         "result": {"score": {"scaled": 0.85, "raw": 85, "min": 0, "max": 100}, "success": True}},
    ]  # fmt: skip


def test_a_cmi5_batch_is_mapped_and_unlocks_the_follow_up_module(lrs: Lrs) -> None:
    sent = course("u-1")
    answer = lrs.send("POST", sent, basic=True)
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Experience-API-Version"] == "1.0.3"
    assert answer.json() == [s["id"] for s in sent]  # every id, the ignored "experienced" one too
    rows = lrs.rows()
    assert [(r["verb"], r["module"], r["lesson"]) for r in rows] == [
        ("initialized", "basics", "intro"), ("completed", "basics", "intro"), ("passed", "basics", "quiz")]  # fmt: skip
    assert rows[1]["duration_ms"] == 270_000.0
    assert rows[2]["score"] == 0.85
    assert {(r["learner"], r["profession"], r["organisation"]) for r in rows} == {("u-1", "teacher", "org-a")}
    for row in rows:  # no e-mail address, no name, no free text
        text = " ".join(str(v) for v in row.values())
        for secret in ("learner@example.org", "Ann Example", "free text"):
            assert secret not in text
    eligible = call(lrs.app, "GET", "/v1/eligibility/u-1/advanced", headers={"Authorization": f"Bearer {lrs.reader}"})
    assert eligible.json()["eligible"] is True


def test_one_bad_statement_refuses_the_whole_batch_saying_why(lrs: Lrs) -> None:
    unknown = {**statement("completed", "nope", 5)}
    refused = lrs.send("POST", [*course("u-2"), unknown])
    assert refused.status_code == 400
    assert refused.json()["error"].startswith("statements.4: object.id: activity")
    only_mail = {**statement("completed", "intro", 6),
                 "actor": {"objectType": "Agent", "mbox": EMAIL}}  # fmt: skip
    refused = lrs.send("POST", [only_mail])
    assert "an e-mail address or OpenID is never stored" in refused.json()["error"]
    bad_score = {**statement("passed", "quiz", 7), "result": {"score": {"scaled": 3}}}
    refused = lrs.send("POST", [bad_score])
    assert refused.status_code == 400
    assert "score" in refused.json()["problems"][0]["reason"]
    assert lrs.rows() == []


def test_put_by_id_is_idempotent_and_a_changed_statement_is_a_conflict(lrs: Lrs) -> None:
    one = {**statement("passed", "quiz", 8), "result": {"score": {"scaled": 0.5}}}
    statement_id = one.pop("id")
    params = {"statementId": statement_id}
    assert lrs.send("PUT", one, params=params).status_code == 204
    assert lrs.send("PUT", one, params=params).status_code == 204
    changed = {**one, "result": {"score": {"scaled": 0.9}}}
    conflict = lrs.send("PUT", changed, params=params)
    assert conflict.status_code == 409
    assert [r["score"] for r in lrs.rows()] == [0.5]
    assert lrs.send("PUT", {**one, "id": str(uuid.uuid4())}, params=params).status_code == 400


def test_credentials_and_the_version_header_are_required(lrs: Lrs) -> None:
    assert lrs.send("POST", course("u-3"), version=None).status_code == 400
    assert lrs.send("POST", course("u-3"), version="0.95").status_code == 400
    anonymous = call(lrs.app, "POST", "/xapi/statements", json=course("u-3"),
                     headers={"X-Experience-API-Version": "1.0.3"})  # fmt: skip
    assert anonymous.status_code == 401
    wrong = call(lrs.app, "POST", "/xapi/statements", json=course("u-3"),
                 headers={"X-Experience-API-Version": "1.0.3", "Authorization": "Basic bm86dGhpbmc="})  # fmt: skip
    assert wrong.status_code == 401
    assert lrs.rows() == []
