"""The eligibility API in-process on the real engine: answers, explanations, scopes, waivers, the
catalogue's versions, and the audit and access records they leave."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from clickhouse_connect.driver.client import Client

from ccaudit.access import AccountStore, ApiTokenStore, Role
from ccaudit.access.roles import ROLE_PERMISSIONS
from ccaudit.errors import ConfigurationError
from ccaudit.ingest import Ingestor
from ccaudit.service.app import create_app
from ccaudit.settings import Settings
from ccaudit.store import Store
from tests.ingest.test_pipeline import batch
from tests.learning.events import learning
from tests.service.test_observability import call

CATALOGUE = Path(__file__).with_name("catalogue.json")
ADMIN = secrets.token_urlsafe(24)


class World:
    def __init__(self, store: Store, folder: Path, **overrides: Any) -> None:
        self.store = store
        # The service's own audit events are kept in a spool under its data folder first.
        settings = Settings(admin_token=ADMIN, learning_catalogue_file=CATALOGUE, data_dir=folder, **overrides)
        self.app = create_app(settings, store)
        self.ingestor = Ingestor(Settings(), store)
        accounts, tokens = AccountStore(store.client, store.database), ApiTokenStore(store.client, store.database)
        self.tokens: dict[str, str] = {}
        for name, role, orgs in [("manager-a", Role.LEARNING_MANAGER, ["org-a"]),
                                 ("manager-b", Role.LEARNING_MANAGER, ["org-b"]), ("operator", Role.OPERATOR, []),
                                 ("auditor", Role.AUDITOR, [])]:  # fmt: skip
            account = accounts.create(f"{name}-{uuid.uuid4().hex[:6]}", role.value, orgs, "a password long enough")
            self.tokens[name] = tokens.create_personal(account.account_id, ROLE_PERMISSIONS[role])[0]
        self.tokens["platform"] = tokens.create_platform_read("coop", ["eligibility:read"])[0]
        self.tokens["other-platform"] = tokens.create_platform_read("library", ["eligibility:read"])[0]

    def get(self, who: str, path: str, **params: str) -> httpx.Response:
        return call(self.app, "GET", path, params=params, headers={"Authorization": f"Bearer {self.tokens[who]}"})

    def send(self, who: str, method: str, path: str, body: Any) -> httpx.Response:
        return call(self.app, method, path, json=body, headers={"Authorization": f"Bearer {self.tokens[who]}"})

    def audit(self, action: str) -> list[dict[str, Any]]:
        """The stored audit events of ``action``, once the service has stored what it kept."""
        assert self.app.state.own_trail.force_flush(60)
        result = self.store.client.query(
            f"SELECT * FROM {self.store.database}.audit_events WHERE action = {{a:String}}", parameters={"a": action}
        )
        return [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]


@pytest.fixture
def world(store: Store, tmp_path: Path) -> Iterator[World]:
    world = World(store, tmp_path)
    yield world
    world.app.state.own_trail.shutdown(10)


def learner_id() -> str:
    return f"learner-{uuid.uuid4().hex[:8]}"


def finish_basics(world: World, learner: str, profession: str = "teacher") -> list[dict[str, Any]]:
    events = [learning("completed", 1, learner=learner, module="basics", lesson="intro", profession=profession),
              learning("passed", 2, learner=learner, module="basics", lesson="quiz", profession=profession)]  # fmt: skip
    world.ingestor.ingest(batch(events))
    return events


def test_the_platform_hears_what_is_missing_then_access_once_the_lessons_are_done(world: World) -> None:
    learner = learner_id()
    path = f"/v1/eligibility/{learner}/advanced"
    before = world.get("platform", path)
    assert before.status_code == 200, before.text
    body = before.json()
    assert (body["eligible"], body["rule_version"], body["learner"], body["platform"]) == (False, 1, learner, "coop")
    assert "tree" not in body  # a platform read token gets the learner's view by default
    missing = body["missing"]
    assert missing["kind"] == "all"
    assert [child["kind"] for child in missing["of"]] == ["module", "any"]
    assert missing["of"][0]["reason"]["en"] == "module basics (moveOn): 0 of 2 required lessons met"
    assert set(missing["of"][0]["reason"]) == {"nl", "fr", "en"}
    assert world.audit("learning.eligibility.granted") == []

    events = finish_basics(world, learner)
    after = world.get("platform", path).json()
    assert after["eligible"] is True
    assert after["missing"] is None
    [granted] = world.audit("learning.eligibility.granted")
    assert (granted["subject_id"], granted["resource_id"], granted["platform"]) == (learner, "advanced", "coop")
    assert granted["details"]["rule_version"] == "1"
    assert set(granted["details"]["evidence"].split(",")) == {e["event_id"] for e in events}


def test_staff_see_the_whole_tree_with_evidence_and_the_read_is_recorded(world: World) -> None:
    learner = learner_id()
    events = finish_basics(world, learner, profession="student")
    body = world.get("manager-a", f"/v1/eligibility/{learner}/advanced", platform="coop").json()
    assert body["eligible"] is False
    tree = body["tree"]
    module, either = tree["of"]
    assert module["passed"] is True
    assert set(module["evidence"]) == {e["event_id"] for e in events}
    assert either["passed"] is False
    assert either["of"][0]["reason"]["en"] == "profession student is not one of teacher, employee"
    reads = world.store.client.query(
        f"SELECT route, kind, filters FROM {world.store.database}.access_events"
    ).result_rows
    assert [(r[0], r[1]) for r in reads] == [("/v1/eligibility/{learner}/{module}", "detail")]
    assert learner in reads[0][2]


def test_a_learning_manager_sees_only_learners_of_their_organisations(world: World) -> None:
    learner = learner_id()
    finish_basics(world, learner)  # org-a, as the test events say
    assert world.get("manager-a", f"/v1/eligibility/{learner}/advanced", platform="coop").status_code == 200
    other = world.get("manager-b", f"/v1/eligibility/{learner}/advanced", platform="coop")
    assert other.status_code == 404
    assert world.get("auditor", f"/v1/eligibility/{learner}/advanced", platform="coop").status_code == 403


def test_a_platform_token_reads_its_own_platform_only(world: World) -> None:
    learner = learner_id()
    finish_basics(world, learner)
    assert world.get("other-platform", f"/v1/eligibility/{learner}/advanced").json()["eligible"] is False
    refused = world.get("platform", f"/v1/eligibility/{learner}/advanced", platform="library")
    assert refused.status_code == 400
    assert refused.json()["error"].startswith("platform:")


def test_a_waiver_opens_the_module_and_is_audited(world: World) -> None:
    learner = learner_id()
    finish_basics(world, learner, profession="student")
    waiver = {"platform": "coop", "learner": learner, "module": "advanced", "reason": "equivalent training"}
    assert world.send("manager-b", "POST", "/v1/eligibility/waivers", waiver).status_code == 404
    assert world.send("operator", "POST", "/v1/eligibility/waivers", waiver).status_code == 403
    made = world.send("manager-a", "POST", "/v1/eligibility/waivers", waiver)
    assert made.status_code == 201, made.text
    body = world.get("manager-a", f"/v1/eligibility/{learner}/advanced", platform="coop").json()
    assert body["eligible"] is True
    waived = body["tree"]["of"][1]["of"][1]
    assert waived["evidence"] == [made.json()["waiver_id"]]
    assert waived["reason"]["en"].endswith(": equivalent training")
    [audited] = world.audit("learning.waiver.granted")
    assert (audited["subject_id"], audited["organisation"], audited["details"]["reason"]) == (
        learner, "org-a", "equivalent training")  # fmt: skip


def test_a_revoked_waiver_no_longer_opens_the_module_in_answers_and_in_bulk(world: World) -> None:
    learner = learner_id()
    finish_basics(world, learner, profession="student")
    waiver = {"platform": "coop", "learner": learner, "module": "advanced", "reason": "equivalent training"}
    made = world.send("manager-a", "POST", "/v1/eligibility/waivers", waiver)
    assert made.status_code == 201, made.text
    bulk = "/v1/learning/eligible/advanced"
    assert learner in world.get("manager-a", bulk, platform="coop", organisation="org-a").json()["learners"]
    taken_back = {**waiver, "reason": "the training was not equivalent after all"}
    assert world.send("manager-b", "POST", "/v1/eligibility/waivers/revocations", taken_back).status_code == 404
    revoked = world.send("manager-a", "POST", "/v1/eligibility/waivers/revocations", taken_back)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked"] == [made.json()["waiver_id"]]
    body = world.get("manager-a", f"/v1/eligibility/{learner}/advanced", platform="coop").json()
    assert body["eligible"] is False
    assert body["tree"]["of"][1]["of"][1]["reason"]["en"] == "no waiver"
    assert learner not in world.get("manager-a", bulk, platform="coop", organisation="org-a").json()["learners"]
    again = world.send("manager-a", "POST", "/v1/eligibility/waivers/revocations", taken_back)
    assert again.status_code == 404  # nothing left in force
    [audited] = world.audit("learning.waiver.revoked")
    assert (audited["subject_id"], audited["organisation"], audited["details"]["waiver_ids"]) == (
        learner, "org-a", made.json()["waiver_id"])  # fmt: skip
    assert audited["details"]["reason"] == "the training was not equivalent after all"
    # A new waiver after the revocation counts again.
    assert world.send("manager-a", "POST", "/v1/eligibility/waivers", waiver).status_code == 201
    assert world.get("manager-a", f"/v1/eligibility/{learner}/advanced", platform="coop").json()["eligible"] is True


def test_bad_requests_name_what_is_wrong(world: World) -> None:
    assert world.get("platform", "/v1/eligibility/x/nope").status_code == 404
    assert world.get("platform", "/v1/eligibility/x/advanced", view="everything").json()["error"].startswith("view:")
    assert world.get("operator", "/v1/eligibility/x/advanced").json()["error"].startswith("platform:")
    assert world.get("platform", "/v1/eligibility/x/advanced", colour="red").status_code == 400
    missing_reason = {"platform": "coop", "learner": "x", "module": "advanced"}
    response = world.send("manager-a", "POST", "/v1/eligibility/waivers", missing_reason)
    assert response.status_code == 400
    assert response.json()["error"].startswith("reason:")


def test_the_catalogue_is_versioned_through_the_api(world: World) -> None:
    assert world.get("operator", "/v1/learning/catalogue").json()["version"] == 1
    same = world.send("operator", "PUT", "/v1/learning/catalogue", {"version": 1, "modules": {}})
    assert same.status_code == 400
    assert "not above the version in force" in same.json()["error"]
    cycle = {"version": 2, "modules": {"a": {"rule": {"kind": "module", "module": "b"}},
                                       "b": {"rule": {"kind": "module", "module": "a"}}}}  # fmt: skip
    refused = world.send("operator", "PUT", "/v1/learning/catalogue", cycle)
    assert refused.status_code == 400
    assert "a cycle of prerequisites: a → b → a" in refused.json()["error"]
    open_module = {"version": 2, "modules": {"advanced": {"lessons": [{"id": "a1"}]}}}
    assert world.send("operator", "PUT", "/v1/learning/catalogue", open_module).status_code == 201
    assert world.send("manager-a", "PUT", "/v1/learning/catalogue", {**open_module, "version": 3}).status_code == 403
    body = world.get("platform", f"/v1/eligibility/{learner_id()}/advanced").json()
    assert (body["eligible"], body["rule_version"]) == (True, 2)  # no rule any more: open to everyone


def test_a_bad_catalogue_file_stops_the_service_naming_the_setting(chdb_client: Client, tmp_path: Path) -> None:
    bad = tmp_path / "catalogue.json"
    bad.write_text('{"version": 1, "modules": {"a": {"rule": {"kind": "lesson", "module": "a", "lesson": "z"}}}}')
    store = Store(chdb_client, f"t_{uuid.uuid4().hex[:12]}")
    store.migrate()
    with pytest.raises(ConfigurationError, match=r"CCAUDIT_LEARNING_CATALOGUE_FILE.*unknown lesson 'z'"):
        create_app(Settings(learning_catalogue_file=bad), store)


def test_bulk_eligibility_and_statistics_over_the_api(world: World) -> None:
    done, waiting = learner_id(), learner_id()
    finish_basics(world, done)
    world.ingestor.ingest(batch([learning("registered", 0, learner=waiting, module="basics", lesson="")]))
    listed = world.get("manager-a", "/v1/learning/eligible/advanced", platform="coop", organisation="org-a")
    assert listed.status_code == 200, listed.text
    assert listed.json()["learners"] == [done]
    assert world.get("manager-a", "/v1/learning/eligible/advanced", platform="coop",
                     organisation="org-b").status_code == 404  # fmt: skip
    assert world.get("platform", "/v1/learning/eligible/advanced", organisation="org-a").json()["learners"] == [done]
    stats = world.get("manager-a", "/v1/learning/stats/basics", platform="coop", by="organisation")
    assert stats.status_code == 200, stats.text
    [group] = stats.json()["groups"]
    assert (group["group"], group["learners"], group["completed"]) == ("org-a", "<5", "<5")
    assert world.get("manager-a", "/v1/learning/stats/basics", platform="coop", by="colour").status_code == 400
    assert world.get("auditor", "/v1/learning/stats/basics", platform="coop").status_code == 403


def test_a_subject_request_reaches_grants_the_service_has_not_stored_yet(store: Store, tmp_path: Path) -> None:
    """A grant is kept in the service's own spool, then stored in batches. A subject request first
    stores what the service kept (the rights' settle hook is the own trail's flush), so an export of
    the learner holds the grant and an erasure reaches it in the store."""
    from tests.conftest import personal_headers

    world = World(store, tmp_path, flush_interval=300)
    try:
        assert world.app.state.rights.settle == world.app.state.own_trail.force_flush
        learner = learner_id()
        finish_basics(world, learner)
        assert world.get("platform", f"/v1/eligibility/{learner}/advanced").json()["eligible"] is True
        dpo = personal_headers(store, "dpo")
        body = {"account_id": learner, "platform": "coop"}
        exported = call(world.app, "POST", "/v1/subjects/export", json=body, headers=dpo)
        assert exported.status_code == 200, exported.text
        assert [e["action"] for e in exported.json()["tables"]["audit_events"]] == ["learning.eligibility.granted"]
        assert call(world.app, "POST", "/v1/subjects/erase", json=body, headers=dpo).status_code == 200
        assert learner not in {e["subject_id"] for e in world.audit("learning.eligibility.granted")}
    finally:
        world.app.state.own_trail.shutdown(10)
