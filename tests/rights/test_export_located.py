"""A subject's export reads a table through its locator (a range of its sorting key, through the copy
of the trail filed by person) and finds exactly the rows a full read finds: for any events naming
people as actor, profile, subject or account resource, before and after one of them is erased."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccaudit.ingest import Ingestor
from ccaudit.register import DEFAULT_REGISTER
from ccaudit.rights.catalog import describe, located, matches
from ccaudit.rights.erase import erase
from ccaudit.rights.subjects import find_subject
from ccaudit.store import Store
from ccaudit.store.audit import AuditQuery
from ccaudit.store.client import query_rows
from tests.conftest import days_ago_ms, settings_for_tests

PEOPLE = ("p-1", "p-2", "p-3", "admin-1")
RESOURCE_TYPES = ("account", "document", "")

person = st.sampled_from(PEOPLE)
maybe = st.one_of(st.just(""), person)
event = st.fixed_dictionaries({
    "actor": person, "profile": st.one_of(st.just(""), person.map(lambda p: f"prof-{p}")),
    "subject": st.one_of(st.just(""), person, person.map(lambda p: f"member:{p}")),
    "resource_type": st.sampled_from(RESOURCE_TYPES), "resource": maybe, "days": st.integers(0, 90),
})  # fmt: skip


def _audit(e: dict[str, Any]) -> dict[str, Any]:
    return {"stream": "audit", "event_id": str(uuid.uuid4()), "event_time": days_ago_ms(e["days"]),
            "organisation": "org1", "actor_account_id": e["actor"], "actor_profile_id": e["profile"],
            "subject_id": e["subject"], "resource_type": e["resource_type"], "resource_id": e["resource"],
            "action": "person.update", "outcome": "success", "client_ip": "203.0.113.9"}  # fmt: skip


def _ids(store: Store, where: str, table: str, ids: list[str]) -> list[tuple[Any, ...]]:
    rows = query_rows(store.client, f"SELECT * FROM {store.database}.{table} WHERE {where} ORDER BY ALL", {"ids": ids})
    return [tuple(str(v) for v in row) for row in rows]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(event, min_size=1, max_size=12), erased=st.one_of(st.none(), person), who=person)
def test_located_rows_are_the_matched_rows(
    store: Store, events: list[dict[str, Any]], erased: str | None, who: str
) -> None:
    settings_ = settings_for_tests()
    Ingestor(settings_, store).ingest(
        {"schema_version": 1, "batch_id": str(uuid.uuid4()), "platform": "coop", "events": [_audit(e) for e in events]}
    )
    if erased is not None:
        subject = find_subject(store, DEFAULT_REGISTER, [erased], [f"member:{erased}"], platform="coop")
        erase(store, DEFAULT_REGISTER, subject, now=datetime.now(UTC))
    ids = list(find_subject(store, DEFAULT_REGISTER, [who], [f"member:{who}"], platform="coop").identifiers)
    # The pseudonyms of the erased, too: the rows filed anew under them are found alike.
    ids += [str(r[0]) for r in query_rows(store.client, f"SELECT DISTINCT key FROM {store.database}.audit_by_person "
                                          "WHERE startsWith(key, 'erased:')")]  # fmt: skip
    narrowed = [t for t in describe(store.client, store.database) if t.info.locator]
    assert {t.name for t in narrowed} == {"audit_events", "audit_by_person"}
    for table in narrowed:
        full = _ids(store, matches(table, "{ids:Array(String)}"), table.name, ids)
        assert _ids(store, located(table, store.database, "{ids:Array(String)}"), table.name, ids) == full


def test_an_operation_on_an_account_is_filed_under_that_account(store: Store) -> None:
    """record_account's events (resource_type 'account') are filed under the account (kind 'account'):
    a search by person is unchanged, an export finds them through the sorting key."""
    Ingestor(settings_for_tests(), store).ingest({
        "schema_version": 1, "batch_id": str(uuid.uuid4()), "platform": "coop",
        "events": [_audit({"actor": "admin-1", "profile": "", "subject": "", "resource_type": "account",
                           "resource": "p-9", "days": 1}),
                   _audit({"actor": "admin-1", "profile": "", "subject": "", "resource_type": "document",
                           "resource": "p-9", "days": 1})],
    })  # fmt: skip
    filed = query_rows(store.client, f"SELECT kind, key, resource_type FROM {store.database}.audit_by_person "
                       "ORDER BY kind, key, resource_type")  # fmt: skip
    assert filed == [("account", "p-9", "account"), ("actor", "admin-1", "account"), ("actor", "admin-1", "document")]
    assert store.search_audit(AuditQuery(subject="p-9"))[0] == []
    assert len(store.search_audit(AuditQuery(actor="admin-1"))[0]) == 2


def test_an_event_stored_twice_is_exported_once(store: Store) -> None:
    """The export reads events without FINAL (one row per event id, LIMIT 1 BY): a copy a replica let
    through is still one row of the export."""
    from ccaudit.rights.export import export

    Ingestor(settings_for_tests(), store).ingest({
        "schema_version": 1, "batch_id": str(uuid.uuid4()), "platform": "coop",
        "events": [_audit({"actor": "p-1", "profile": "", "subject": "", "resource_type": "", "resource": "",
                           "days": d}) for d in (1, 2)],
    })  # fmt: skip
    db = store.database
    store.client.command(f"INSERT INTO {db}.audit_events SELECT * FROM {db}.audit_events WHERE event_time = "
                         f"(SELECT max(event_time) FROM {db}.audit_events)")  # fmt: skip
    assert query_rows(store.client, f"SELECT count() FROM {db}.audit_events")[0][0] == 3
    subject = find_subject(store, DEFAULT_REGISTER, ["p-1"], platform="coop")
    document = export(store, DEFAULT_REGISTER, subject, datetime.now(UTC))
    assert len(document["tables"]["audit_events"]) == 2
    assert len({r["event_id"] for r in document["tables"]["audit_events"]}) == 2


def test_tables_read_side_by_side_give_the_document_read_one_by_one(store: Store) -> None:
    """The export reads its tables on several engine handles at once (``READERS``): the document, its
    manifest in the declared order and every table's rows, is the one a single reader gives."""
    from ccaudit.rights.export import READERS, export

    assert READERS > 1
    Ingestor(settings_for_tests(), store).ingest({
        "schema_version": 1, "batch_id": str(uuid.uuid4()), "platform": "coop",
        "events": [_audit({"actor": p, "profile": f"prof-{p}", "subject": "p-1", "resource_type": "account",
                           "resource": "p-1", "days": d}) for d, p in enumerate(PEOPLE)],
    })  # fmt: skip
    subject = find_subject(store, DEFAULT_REGISTER, ["p-1"], ["member:p-1"], platform="coop")
    now = datetime.now(UTC)
    side_by_side = export(store, DEFAULT_REGISTER, subject, now)
    assert side_by_side == export(store, DEFAULT_REGISTER, subject, now, readers=1)
    assert [m["table"] for m in side_by_side["manifest"]] == [t.name for t in describe(store.client, store.database)]
    assert len(side_by_side["tables"]["audit_events"]) == len(PEOPLE)
