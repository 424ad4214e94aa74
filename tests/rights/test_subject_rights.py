"""Subject rights end to end: a subject as actor and as subject in audit events, in consent receipts
and in a platform's spool; the export holds every row sent; a full erasure leaves none of their
identifiers in any column of any table, nor in the spool; the erasure is in the audit trail; a
redelivery after it is acknowledged and not stored again; restriction is enforced by the read paths."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ccaudit.ingest import Ingestor
from ccaudit.register import DEFAULT_REGISTER, SubjectIds
from ccaudit.rights import spool as spool_rights
from ccaudit.rights.actions import Actor, Rights, SubjectBody
from ccaudit.shipping.spool import Spool
from ccaudit.store import Store
from ccaudit.store.audit import AuditQuery
from ccaudit.store.client import insert_rows, query_rows
from ccaudit.store.usage import UsageQuery
from tests.conftest import days_ago_ms, settings_for_tests

ACCOUNT = "acct-q7x"
PROFILE = "prof-q7x"
EMAIL = "q7x@example.org"
SUBJECT_ID = f"member:{ACCOUNT}"
IDENTIFIERS = (ACCOUNT, PROFILE, EMAIL, SUBJECT_ID)
DPO = Actor("dpo-account", "dpo")


def _register() -> Any:
    return DEFAULT_REGISTER.model_copy(update={"subjects": {"coop": SubjectIds(subject_ids=("member:{account_id}",))}})


def _audit(actor: str, profile: str, subject: str, days: int, details: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "stream": "audit", "event_id": str(uuid.uuid4()), "event_time": days_ago_ms(days), "organisation": "org1",
        "actor_account_id": actor, "actor_profile_id": profile, "subject_id": subject, "action": "person.update",
        "outcome": "success", "client_ip": "203.0.113.9", "user_agent": "Mozilla/5.0 Firefox/120.0",
        "details": details or {},
    }  # fmt: skip


def _consent(account: str, days: int) -> dict[str, Any]:
    return {
        "stream": "consent", "event_id": str(uuid.uuid4()), "event_time": days_ago_ms(days),
        "consent_id": str(uuid.uuid4()), "account_id": account, "categories_accepted": ["analytics"],
        "categories_rejected": [], "method": "banner", "action": "accept_all", "policy_revision": 1,
        "banner_text_sha256": "0" * 64, "language": "en",
    }  # fmt: skip


def _batch(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schema_version": 1, "batch_id": str(uuid.uuid4()), "platform": "coop", "events": events}


def _scan(store: Store, needles: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """Every column of every table of the store (strings, maps, arrays, aggregate states as text)
    holding any of ``needles``."""
    hits = []
    tables = query_rows(store.client, "SELECT name FROM system.tables WHERE database = {db:String} "
                        "AND engine NOT IN ('MaterializedView', 'View')", {"db": store.database})  # fmt: skip
    for (table,) in tables:
        columns = query_rows(store.client, "SELECT name FROM system.columns WHERE database = {db:String} "
                             "AND table = {t:String}", {"db": store.database, "t": table})  # fmt: skip
        for (column,) in columns:
            for needle in needles:
                sql = (f"SELECT count() FROM {store.database}.{table} "
                       f"WHERE positionCaseInsensitive(toString({column}), {{n:String}}) > 0")  # fmt: skip
                if query_rows(store.client, sql, {"n": needle})[0][0]:
                    hits.append((table, column, needle))
    return hits


def _sqlite_scan(path: Path, needles: tuple[str, ...]) -> list[str]:
    text = path.read_bytes().decode("latin-1")
    for extra in path.parent.glob(path.name + "*"):
        if extra.is_file():
            text += extra.read_bytes().decode("latin-1")
    for journal_file in (path.parent / (path.name + ".journal")).glob("*"):
        text += journal_file.read_bytes().decode("latin-1")
    return [n for n in needles if n in text]


def test_export_then_full_erase_leaves_no_identifier(store: Store, tmp_path: Path) -> None:
    settings = settings_for_tests(processing_register=_register())
    ingestor = Ingestor(settings, store)
    as_actor = [_audit(ACCOUNT, PROFILE, "", d, {"email": EMAIL, "field": "phone"}) for d in (3, 2, 1)]
    as_subject = [_audit("admin-1", "", SUBJECT_ID, d, {"changed": "address"}) for d in (5, 4)]
    others = [_audit("acct-other", "prof-other", "member:acct-other", 2, {"email": "o@example.org"})]
    receipts = [_consent(ACCOUNT, 6), _consent(ACCOUNT, 1), _consent("acct-other", 1)]
    views = [{"stream": "usage", "event_id": str(uuid.uuid4()), "event_time": days_ago_ms(1), "page": "/news",
              "user_agent": "Mozilla/5.0 Firefox/120.0", "client_ip": "203.0.113.9"} for _ in range(3)]  # fmt: skip
    sent = _batch(as_actor + as_subject + others + receipts + views)
    ingestor.ingest(sent)
    days = UsageQuery(since=datetime.now(UTC).date() - timedelta(days=3), until=datetime.now(UTC).date())
    totals = store.summarise_usage(days)
    insert_rows(store.client, store.database, "access_events",
                [[str(uuid.uuid4()), datetime.now(UTC), "auditor", "account", "aud-1", "auditor", "/v1/audit/events",
                  "search", json.dumps({"actor": ACCOUNT}), 3, True]],
                ["access_id", "event_time", "principal", "principal_kind", "account_id", "role", "route", "kind",
                 "filters", "rows", "complete"])  # fmt: skip

    spool_path = tmp_path / "spool.sqlite3"
    spool = Spool(spool_path)
    waiting = [json.dumps(_audit(ACCOUNT, PROFILE, "", 0)), json.dumps(_audit("admin-1", "", SUBJECT_ID, 0))]
    spool.put(waiting[:1])
    spool.append(waiting[1:])
    spool.close()

    rights = Rights(store, settings, ingestor.late)
    body = SubjectBody(account_id=ACCOUNT, identifiers=(EMAIL,), request_id="req-1")
    document = rights.export(body, DPO)
    counts = {m["table"]: m["rows"] for m in document["manifest"]}
    assert counts["audit_events"] == len(as_actor) + len(as_subject)
    assert counts["consent_receipts"] == 2
    assert counts["access_events"] == 1
    assert counts["account_last_use"] == 1
    exported_ids = {r["event_id"] for r in document["tables"]["audit_events"]}
    assert exported_ids == {e["event_id"] for e in as_actor + as_subject}
    audit_part = next(m for m in document["manifest"] if m["table"] == "audit_events")
    assert audit_part["register"]["coop"]["retention_days"] == 730
    assert len(spool_rights.find(spool_path, IDENTIFIERS)) == len(waiting)

    erased = rights.erase(body, DPO)
    assert erased["tables"]["audit_events"] == {"action": "pseudonymise", "rows": 5}
    assert erased["tables"]["account_last_use"]["action"] == "delete"
    spool_rights.erase(spool_path, IDENTIFIERS)

    assert _scan(store, IDENTIFIERS) == []
    # The anonymous dashboards' totals are what they were.
    assert store.summarise_usage(days) == totals
    assert _sqlite_scan(spool_path, IDENTIFIERS) == []
    # The evidence stays: the subject's audit rows, pseudonymised, without their IP and user agent.
    kept = query_rows(store.client, f"SELECT actor_account_id, client_ip, user_agent, details FROM "
                      f"{store.database}.audit_events WHERE startsWith(actor_account_id, 'erased:')")  # fmt: skip
    assert len(kept) == len(as_actor)
    assert all(ip == "" and ua == "" and "email" not in details for _, ip, ua, details in kept)
    # Searches by person: the copies filed under the subject are filed under their pseudonym now.
    assert erased["tables"]["audit_by_person"]["action"] == "pseudonymise"
    filed = query_rows(store.client, f"SELECT count() FROM {store.database}.audit_by_person WHERE key = {{p:String}}",
                       {"p": kept[0][0]})  # fmt: skip
    assert filed[0][0] == len(as_actor)
    assert len(store.search_audit(AuditQuery(actor=kept[0][0]))[0]) == len(as_actor)
    assert store.search_audit(AuditQuery(actor=ACCOUNT))[0] == []
    # Others are untouched; receipts keep their proof without the account id.
    assert store.search_audit(AuditQuery(actor="acct-other"))[0][0]["client_ip"] == "203.0.113.9"
    proofs = query_rows(store.client, f"SELECT count() FROM {store.database}.consent_receipts "
                        "WHERE startsWith(account_id, 'erased:')")  # fmt: skip
    assert proofs[0][0] == 2
    # The erasure is in the trail, naming the request and not the person.
    trail = store.search_audit(AuditQuery(platform="ccaudit", action="subject.erase"))[0]
    assert len(trail) == 1
    assert trail[0]["subject_id"] == "request:req-1"

    # A redelivery of an erased event is acknowledged and not stored again; a late arrival of the
    # erased subject is pseudonymised alike.
    ingestor.ingest(sent)
    late = _audit(ACCOUNT, PROFILE, "", 0, {"email": EMAIL})
    ingestor.ingest(_batch([late]))
    assert _scan(store, IDENTIFIERS) == []
    rows = query_rows(store.client, f"SELECT count() FROM {store.database}.audit_events WHERE platform = 'coop'")
    assert rows[0][0] == len(as_actor) + len(as_subject) + len(others) + 1


def test_restriction_is_enforced_by_each_read_path(store: Store) -> None:
    settings = settings_for_tests(processing_register=_register())
    ingestor = Ingestor(settings, store)
    mine = _audit(ACCOUNT, PROFILE, "", 2)
    about_me = _audit("admin-1", "", SUBJECT_ID, 2)
    other = _audit("acct-other", "", "", 2)
    receipt = _consent(ACCOUNT, 1)
    ingestor.ingest(_batch([mine, about_me, other, receipt]))
    rights = Rights(store, settings, ingestor.late)
    body = SubjectBody(account_id=ACCOUNT, request_id="req-2")

    rights.restrict(body, DPO)
    # audit search, event detail, export, consent history
    found = {e["event_id"] for e in store.search_audit(AuditQuery(platform="coop"))[0]}
    assert found == {other["event_id"]}
    from ccaudit.store.audit import audit_event, stream_audit

    assert audit_event(store.client, store.database, AuditQuery(event_id=uuid.UUID(mine["event_id"]))) is None
    with stream_audit(store.client, store.database, AuditQuery(platform="coop")) as blocks:
        streamed = {str(row[0]) for row in blocks}
    assert streamed == {other["event_id"]}
    assert store.consent_history(receipt["consent_id"]) == []
    # The audit trail keeps recording the restricted subject.
    late = _audit(ACCOUNT, PROFILE, "", 0)
    ingestor.ingest(_batch([late]))
    stored = query_rows(store.client, f"SELECT count() FROM {store.database}.audit_events WHERE actor_account_id = "
                        "{a:String}", {"a": ACCOUNT})  # fmt: skip
    assert stored[0][0] == 2

    rights.restrict(body.model_copy(update={"lift": True}), DPO)
    assert len(store.search_audit(AuditQuery(platform="coop"))[0]) == 4
    assert len(store.consent_history(receipt["consent_id"])) == 1


def test_objection_to_the_audit_stream_is_recorded_and_may_be_refused(store: Store) -> None:
    settings = settings_for_tests(processing_register=_register())
    rights = Rights(store, settings)
    body = SubjectBody(account_id=ACCOUNT, request_id="req-3", purpose="P2", accept=False,
                       grounds="needed to establish and defend legal claims")  # fmt: skip
    answer = rights.object_(body, DPO)
    assert answer["accepted"] is False
    trail = store.search_audit(AuditQuery(platform="ccaudit", action="subject.object"))[0]
    assert trail[0]["outcome"] == "denied"
    assert "legal claims" in trail[0]["details"]["grounds"]
