"""Subject rights over learning, on the real engine: learning events, the engine-kept learning state
(an AggregatingMergeTree sorted by learner) and waivers are exported with readable values; erased
entirely or per purpose (deleted, or kept under a pseudonym that no cell of the state names the
learner by, with the statistics' totals unchanged); restriction and objection leave the learner out
of eligibility answers, bulk eligibility and statistics; learning counts as use of the account for
retention by last use."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ccaudit.access import Principal
from ccaudit.ids import new_id
from ccaudit.ingest import Ingestor
from ccaudit.learning.bulk import eligible_learners
from ccaudit.learning.catalogue import parse_catalogue
from ccaudit.learning.eligibility import Eligibility
from ccaudit.learning.records import Catalogues, Waivers
from ccaudit.learning.stats import StatsQuery, module_statistics
from ccaudit.register import DEFAULT_REGISTER, ProcessingRegister
from ccaudit.rights import retention
from ccaudit.rights.actions import Actor, Rights, SubjectBody
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.client import query_rows
from ccaudit.store.learning import Profile, learner_profile, learner_state
from tests.conftest import days_ago_ms, settings_for_tests
from tests.learning.events import learning
from tests.rights.test_subject_rights import _scan

LEARNER = "acct-l7q"
OTHERS = [f"acct-o{i}" for i in range(6)]
DPO = Actor("dpo-account", "dpo")
CATALOGUE = {"version": 1, "modules": {
    "course": {"lessons": [{"id": "l1"}, {"id": "l2", "move_on": "Passed"}]},
    "next": {"lessons": [{"id": "n1"}], "rule": {"kind": "module", "module": "course"}},
}}  # fmt: skip
LEARNING_TABLES = ("learning_events", "learning_state", "learning_learners", "learning_waivers")


def _register(on_erase: str = "delete") -> ProcessingRegister:
    # Rows kept 3000 days by their TTL: the retention job's two years must be what acts.
    learning_ = DEFAULT_REGISTER.default["learning"].model_copy(update={"on_erase": on_erase, "retention_days": 3000})
    return DEFAULT_REGISTER.model_copy(update={"default": {**DEFAULT_REGISTER.default, "learning": learning_}})


def _path(learner: str) -> list[dict[str, Any]]:
    """Registered, lesson 1 completed, lesson 2 passed: the module "course" done (cells '', l1, l2)."""
    common = {"learner": learner, "organisation": "org-a", "profession": "teacher", "module": "course"}
    return [learning("registered", 0, lesson="", **common), learning("initialized", 5, lesson="l1", **common),
            learning("completed", 10, lesson="l1", **common), learning("initialized", 15, lesson="l2", **common),
            learning("passed", 20, lesson="l2", score=0.9, **common)]  # fmt: skip


def _at(learner: str, days: int, verb: str = "progressed") -> dict[str, Any]:
    at = days_ago_ms(days)
    return learning(verb, learner=learner, event_time=at, event_id=new_id(at), module="course", lesson="l1")


def _batch(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schema_version": 1, "batch_id": str(uuid.uuid4()), "platform": "coop", "events": events}


def _audit(actor: str) -> dict[str, Any]:
    return {"stream": "audit", "event_id": str(uuid.uuid4()), "event_time": days_ago_ms(1), "organisation": "org-a",
            "actor_account_id": actor, "action": "login", "outcome": "success", "client_ip": "203.0.113.7"}  # fmt: skip


def _world(store: Store, settings: Settings) -> tuple[Ingestor, list[dict[str, Any]]]:
    ingestor = Ingestor(settings, store)
    mine = _path(LEARNER)
    events = mine + [e for other in OTHERS for e in _path(other)] + [_audit(LEARNER)]
    ingestor.ingest(_batch(events))
    Waivers(store).grant("coop", LEARNER, "next", "org-a", "tested out", "manager-1", 3000)
    return ingestor, mine


def _count(store: Store, table: str, learner: str = LEARNER) -> int:
    sql = f"SELECT count() FROM {store.database}.{table} WHERE learner = {{l:String}}"
    return int(query_rows(store.client, sql, {"l": learner})[0][0])


def _learners(store: Store) -> int:
    return int(query_rows(store.client, f"SELECT uniqExact(learner) FROM {store.database}.learning_state")[0][0])


def _stats(store: Store) -> dict[str, Any]:
    groups = module_statistics(store, parse_catalogue(CATALOGUE), StatsQuery("coop", "course"))["groups"]
    # Averages rounded: the engine sums in the order its parts give, which a re-key changes (0.9 may
    # come back as 0.9000000000000001).
    return {k: round(v, 9) if isinstance(v, float) else v for k, v in groups[0].items()} if groups else {}


def test_learning_export_then_full_erase_leaves_no_trace_of_the_learner(store: Store) -> None:
    settings = settings_for_tests(processing_register=_register())
    ingestor, mine = _world(store, settings)
    rights = Rights(store, settings, ingestor.late)
    body = SubjectBody(account_id=LEARNER, request_id="req-l1")

    document = rights.export(body, DPO)
    counts = {m["table"]: m["rows"] for m in document["manifest"]}
    assert counts["learning_events"] == len(mine)
    assert {r["event_id"] for r in document["tables"]["learning_events"]} == {e["event_id"] for e in mine}
    assert counts["learning_state"] == 3  # the module itself, l1 and l2
    assert counts["learning_waivers"] == 1
    # The state's aggregate columns are exported as their values, not as engine states.
    cells = {r["lesson"]: r for r in document["tables"]["learning_state"]}
    assert cells["l2"]["profession"] == "teacher"
    assert cells["l2"]["passed_event"] == mine[4]["event_id"]
    # The learner's latest organisation and profession: one row, each as (time, event id, value).
    assert counts["learning_learners"] == 1
    [profile] = document["tables"]["learning_learners"]
    assert (profile["organisation"][2], profile["profession"][2]) == ("org-a", "teacher")
    json.dumps(document)  # machine-readable as it is

    erased = rights.erase(body, DPO)
    assert erased["tables"]["learning_events"] == {"action": "delete", "rows": len(mine)}
    assert erased["tables"]["learning_state"] == {"action": "delete", "rows": 3}
    assert erased["tables"]["learning_learners"] == {"action": "delete", "rows": 1}
    # No column of any table (aggregate states as text included) names the learner any more.
    assert _scan(store, (LEARNER,)) == []
    assert _learners(store) == len(OTHERS)
    assert all(_count(store, "learning_events", other) == len(mine) for other in OTHERS)


def test_per_purpose_pseudonymisation_keeps_totals_and_no_cell_names_the_learner(store: Store) -> None:
    settings = settings_for_tests(processing_register=_register("pseudonymise"))
    ingestor, _ = _world(store, settings)
    rights = Rights(store, settings, ingestor.late)
    before = _stats(store)
    total = int(query_rows(store.client, f"SELECT count() FROM {store.database}.learning_events")[0][0])

    erased = rights.erase(SubjectBody(account_id=LEARNER, request_id="req-l2", purpose="P5"), DPO)
    assert erased["tables"]["learning_events"]["action"] == "pseudonymise"
    assert "audit_events" not in erased["tables"]  # P5 only: the audit trail (P2, P3) is not erased
    hits = [h for h in _scan(store, (LEARNER,)) if h[0] in LEARNING_TABLES]
    assert hits == []
    # The rows and the state's cells stay, under a pseudonym: the statistics' totals do not move.
    assert int(query_rows(store.client, f"SELECT count() FROM {store.database}.learning_events")[0][0]) == total
    pseudonyms = query_rows(store.client, f"SELECT DISTINCT learner FROM {store.database}.learning_state "
                            "WHERE startsWith(learner, 'erased:')")  # fmt: skip
    assert len(pseudonyms) == 1
    assert _learners(store) == len(OTHERS) + 1
    assert _stats(store) == before
    assert before["learners"] == len(OTHERS) + 1
    # A learning event of the erased learner still waiting in a spool arrives late: pseudonymised alike.
    ingestor.ingest(_batch([_at(LEARNER, 0)]))
    assert _count(store, "learning_events") == 0
    assert _count(store, "learning_state") == 0
    assert _count(store, "learning_learners") == 0


def test_restriction_and_objection_leave_the_learner_out_of_learning(store: Store, tmp_path: Path) -> None:
    settings = settings_for_tests(processing_register=_register())
    ingestor, _ = _world(store, settings)
    rights = Rights(store, settings, ingestor.late)
    (tmp_path / "catalogue.json").write_text(json.dumps(CATALOGUE))
    written: list[Any] = []
    eligibility = Eligibility(settings, store, Catalogues(store, tmp_path / "catalogue.json"), Waivers(store),
                              lambda platform, events: written.extend(events))  # fmt: skip
    staff = Principal("account", "manager-1", frozenset())
    now = datetime.now(UTC)
    catalogue = parse_catalogue(CATALOGUE)
    assert eligibility.decide(staff, "coop", LEARNER, "next").eligible

    body = SubjectBody(account_id=LEARNER, request_id="req-l3")
    rights.restrict(body, DPO)
    answer = eligibility.decide(staff, "coop", LEARNER, "next")
    assert not answer.eligible
    assert answer.as_dict("full")["restricted"] == "restricted"
    assert answer.as_dict("learner")["missing"] is None
    assert answer.states == ()
    assert LEARNER not in eligible_learners(store, catalogue, "coop", "org-a", "next", now)
    assert _stats(store)["learners"] == len(OTHERS)
    # Kept, not used: the rows are all still stored, and new learning events are still recorded.
    ingestor.ingest(_batch([_at(LEARNER, 0)]))
    assert _count(store, "learning_events") == len(_path(LEARNER)) + 1

    rights.restrict(body.model_copy(update={"lift": True}), DPO)
    assert eligibility.decide(staff, "coop", LEARNER, "next").eligible
    assert _stats(store)["learners"] == len(OTHERS) + 1

    # An accepted objection to P5 (follow-up module access and learning statistics) does the same.
    rights.object_(body.model_copy(update={"purpose": "P5"}), DPO)
    objected = eligibility.decide(staff, "coop", LEARNER, "next").as_dict("learner")
    assert (objected["eligible"], objected["restricted"]) == (False, "objected")
    assert LEARNER not in eligible_learners(store, catalogue, "coop", "org-a", "next", now)
    assert _stats(store)["learners"] == len(OTHERS)
    # An objection to another purpose (the audit stream's P2) leaves learning alone.
    rights.object_(SubjectBody(account_id=OTHERS[0], request_id="req-l4", purpose="P2"), DPO)
    assert eligibility.decide(staff, "coop", OTHERS[0], "next").eligible


def test_learning_is_use_of_the_account_for_retention(store: Store) -> None:
    settings = settings_for_tests(processing_register=_register())
    ingestor = Ingestor(settings, store)
    # Learners with no audit event at all: only their learning shows their use.
    ingestor.ingest(_batch([_at("lu-old", 102), _at("lu-new", 100), _at("lu-late", 102)]))
    last = query_rows(store.client, f"SELECT account_id, max(last_use) FROM {store.database}.account_last_use "
                      "WHERE platform = 'coop' GROUP BY account_id ORDER BY account_id")  # fmt: skip
    assert [r[0] for r in last] == ["lu-late", "lu-new", "lu-old"]
    # A late learning event, dated after lu-new's last use, moves lu-late's.
    ingestor.ingest(_batch([_at("lu-late", 99)]))
    now = datetime.now(UTC) + timedelta(days=629, hours=12)  # 731.5 and 729.5 days after the events

    report = retention.run(store, settings, now)
    assert {d.account_id for d in report.due} == {"lu-old"}
    assert report.tables["learning_events"] == 1
    assert report.tables["learning_state"] == 1
    assert _count(store, "learning_events", "lu-old") == 0
    assert _count(store, "learning_state", "lu-old") == 0
    assert _count(store, "learning_events", "lu-new") == 1
    assert _count(store, "learning_events", "lu-late") == 2


def test_rectifying_the_learners_profession_in_the_state(store: Store) -> None:
    settings = settings_for_tests(processing_register=_register())
    ingestor, _ = _world(store, settings)
    rights = Rights(store, settings, ingestor.late)
    body = SubjectBody(account_id=LEARNER, request_id="req-l5", table="learning_state", column="profession",
                       value="student")  # fmt: skip
    done = rights.rectify(body, DPO)
    assert done["rows"] == 3
    assert done["also"] == {"learning_learners": 1}  # the same field, kept per learner
    states = learner_state(store.client, store.database, "coop", LEARNER)
    assert {s.profession for s in states} == {"student"}
    assert learner_profile(store.client, store.database, "coop", LEARNER) == Profile("org-a", "student")
    assert {s.organisation for s in states} == {"org-a"}  # the other fields are what they were
    assert {s.first_passed is not None for s in states if s.lesson == "l2"} == {True}
    assert {s.profession for s in learner_state(store.client, store.database, "coop", OTHERS[0])} == {"teacher"}
    # A later event of the learner is newer than the correction: its profession is the latest again.
    ingestor.ingest(_batch([learning("progressed", learner=LEARNER, event_time=days_ago_ms(0) + 60_000,
                                     event_id=new_id(days_ago_ms(0) + 60_000), module="course", lesson="l1",
                                     profession="employee")]))  # fmt: skip
    latest = {s.lesson: s.profession for s in learner_state(store.client, store.database, "coop", LEARNER)}
    assert latest == {"": "student", "l1": "employee", "l2": "student"}
    assert learner_profile(store.client, store.database, "coop", LEARNER).profession == "employee"
    trail = query_rows(store.client, f"SELECT details FROM {store.database}.audit_events "
                       "WHERE action = 'subject.rectify'")  # fmt: skip
    assert trail[0][0]["column"] == "profession"
    assert "student" not in str(trail[0][0])
