"""Keyed searches, through audit_keys (request and trace ids, migration 0020) and audit_by_person
(actor and subject, migration 0038), find exactly what a plain filter over every row finds, page by
page, within the principal's bounds, whatever else the search names."""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccaudit.store import Store
from ccaudit.store.audit import COLUMNS, AuditQuery, insert_audit, search_audit
from tests.conftest import days_ago_ms

ACTORS = ["anna", "bert", "cleo"]
SUBJECTS = ["member:1", "member:2"]
ORGS = ["org-a", "org-b", "org-c"]
PLATFORMS = ["coop", "library"]
ACTIONS = ["person.update", "person.view", "loan.create"]


def make_rows(count: int) -> list[dict[str, Any]]:
    rng = random.Random(11)
    base = days_ago_ms(30)
    rows = []
    for n in range(count):
        rows.append({
            "event_id": uuid.UUID(int=rng.getrandbits(128)),
            # Some share a millisecond: the order then falls to the event id, as in the sorting key.
            "event_time": datetime.fromtimestamp((base + rng.randrange(20) * 3_600_000) / 1000, UTC),
            "platform": rng.choice(PLATFORMS),
            "organisation": rng.choice(ORGS),
            "actor_account_id": rng.choice(ACTORS),
            # Sometimes the profile id is the account id: the event is filed once under that actor.
            "actor_profile_id": rng.choice(["", "prof-" + rng.choice(ACTORS), "cleo"]),
            "subject_id": rng.choice(SUBJECTS),
            "action": rng.choice(ACTIONS),
            "request_id": f"req-{n % 7}",
            "trace_id": rng.choice(["", f"trace-{n % 5}"]),
        })  # fmt: skip
    return rows


def column(name: str, row: dict[str, Any]) -> Any:
    defaults: dict[str, Any] = {"admin_operation": True, "status": 200, "duration_ms": 1.0, "details": {},
                                "retention_days": 730, "is_bot": False, "outcome": "success"}  # fmt: skip
    if name == "received_at":
        return row["event_time"]
    return row.get(name, defaults.get(name, ""))


@pytest.fixture(scope="module")
def seeded(chdb_client: Client) -> tuple[Store, list[dict[str, Any]]]:
    store = Store(chdb_client, f"keys_{uuid.uuid4().hex[:12]}")  # the process's one engine, a database of its own
    store.migrate()
    rows = make_rows(240)
    for chunk in (rows[:120], rows[120:]):  # two inserts: two parts, as after two batches
        insert_audit(store.client, store.database, [[column(c, r) for r in chunk] for c in COLUMNS])
    return store, rows


def matches(row: dict[str, Any], q: AuditQuery) -> bool:
    checks = [
        q.actor is None or q.actor in (row["actor_account_id"], row["actor_profile_id"]),
        q.subject is None or row["subject_id"] == q.subject,
        q.request_id is None or row["request_id"] == q.request_id,
        q.trace_id is None or row["trace_id"] == q.trace_id,
        q.organisation is None or row["organisation"] == q.organisation,
        q.platform is None or row["platform"] == q.platform,
        q.action is None or row["action"] == q.action,
        q.since is None or row["event_time"] >= q.since,
        q.until is None or row["event_time"] < q.until,
        q.scope_organisations is None or row["organisation"] in q.scope_organisations,
    ]
    return all(checks)


def all_pages(store: Store, q: AuditQuery) -> list[str]:
    found: list[str] = []
    while True:
        events, cursor = search_audit(store.client, store.database, q)
        found += [e["event_id"] for e in events]
        if cursor is None:
            return found
        q = replace(q, cursor=cursor)


keys = st.one_of(
    st.builds(lambda v: {"actor": v}, st.sampled_from([*ACTORS, "prof-anna", "nobody"])),
    st.builds(lambda v: {"subject": v}, st.sampled_from(SUBJECTS)),
    st.builds(lambda v: {"request_id": v}, st.sampled_from([f"req-{n}" for n in range(8)])),
    st.builds(lambda v: {"trace_id": v}, st.sampled_from([f"trace-{n}" for n in range(5)])),
)
extras = st.fixed_dictionaries(
    {},
    optional={
        "organisation": st.sampled_from(ORGS),
        "platform": st.sampled_from(PLATFORMS),
        "action": st.sampled_from(ACTIONS),
        "subject": st.sampled_from(SUBJECTS),
        "scope_organisations": st.frozensets(st.sampled_from(ORGS), max_size=2),
        "since_hours": st.integers(0, 20),
        "until_hours": st.integers(0, 20),
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keys, extras, st.integers(1, 40))
def test_a_keyed_search_finds_what_a_plain_filter_finds_page_by_page(
    seeded: tuple[Store, list[dict[str, Any]]], key: dict[str, str], extra: dict[str, Any], limit: int
) -> None:
    store, rows = seeded
    by_id = {str(r["event_id"]): r for r in rows}
    base = datetime.fromtimestamp(days_ago_ms(30) / 1000, UTC)
    fields = {k: v for k, v in extra.items() if not k.endswith("_hours")}
    if "since_hours" in extra:
        fields["since"] = base + timedelta(hours=extra["since_hours"])
    if "until_hours" in extra:
        fields["until"] = base + timedelta(hours=extra["until_hours"])
    q = AuditQuery(**{**fields, **key}, limit=limit)
    found = all_pages(store, q)
    assert sorted(found) == sorted(str(r["event_id"]) for r in rows if matches(r, q))  # each once, none else
    times = [by_id[event_id]["event_time"] for event_id in found]
    assert times == sorted(times, reverse=True)  # newest first (ties: the engine's UUID order)


# The rows the tests below add match no search of the seeded rows' test, in whatever order they run.
ALONE: dict[str, Any] = {"event_time": datetime.now(UTC), "platform": "coop", "organisation": "org-z",
                         "subject_id": "member:8", "action": "person.view", "request_id": "req-z"}  # fmt: skip


def insert_one(store: Store, row: dict[str, Any]) -> None:
    insert_audit(store.client, store.database, [[column(c, row)] for c in COLUMNS])


def test_an_event_stored_twice_is_found_once_by_person(seeded: tuple[Store, list[dict[str, Any]]]) -> None:
    # The ledger lets one row per event id in; a replica racing another could let a second through.
    store, _ = seeded
    row = {**ALONE, "event_id": uuid.uuid4(), "actor_account_id": "dora", "subject_id": "member:9"}
    insert_one(store, row)
    insert_one(store, row)
    for query in (AuditQuery(actor="dora"), AuditQuery(subject="member:9")):
        events, _ = search_audit(store.client, store.database, query)
        assert [e["event_id"] for e in events] == [str(row["event_id"])]
