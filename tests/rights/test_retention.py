"""Retention by last use, with an injected clock: accounts last used just under and just over the
register's two years; only the second are erased, by the job (the rows' own retention is longer than
the test's span, so no TTL can be what removed them); a legal hold keeps one; a late event moves the
last use; a closed account goes after the register's grace."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from ccaudit.ingest import Ingestor
from ccaudit.register import DEFAULT_REGISTER, Declaration
from ccaudit.rights import holds, retention
from ccaudit.store import Store
from ccaudit.store.client import query_rows
from tests.conftest import days_ago_ms, settings_for_tests

DAY = timedelta(days=1)


def _register() -> Any:
    # Rows are kept 3000 days by their TTL; the job's two years (730 days of inactivity) must act first.
    audit = DEFAULT_REGISTER.default["audit"].model_copy(update={"retention_days": 3000})
    consent = DEFAULT_REGISTER.default["consent"].model_copy(update={"retention_days": 3000})
    return DEFAULT_REGISTER.model_copy(update={"default": {"audit": audit, "consent": consent}})


def _event(actor: str, days: int, **extra: Any) -> dict[str, Any]:
    return {"stream": "audit", "event_id": str(uuid.uuid4()), "event_time": days_ago_ms(days),
            "actor_account_id": actor, "action": "login", "outcome": "success", "client_ip": "198.51.100.4",
            **extra}  # fmt: skip


def _ingest(ingestor: Ingestor, events: list[dict[str, Any]]) -> None:
    ingestor.ingest({"schema_version": 1, "batch_id": str(uuid.uuid4()), "platform": "coop", "events": events})


def _rows_of(store: Store, actor: str) -> int:
    sql = f"SELECT count() FROM {store.database}.audit_events WHERE actor_account_id = {{a:String}}"
    return int(query_rows(store.client, sql, {"a": actor})[0][0])


def test_only_accounts_unused_past_two_years_are_erased_by_the_job(store: Store) -> None:
    settings = settings_for_tests(processing_register=_register())
    ingestor = Ingestor(settings, store)
    # Events 100 days ago; the clock is moved so that they are 729 and 731 days old to the job.
    _ingest(ingestor, [_event("under", 100), _event("over", 102), _event("held", 102), _event("late", 102)])
    now = datetime.now(UTC) + timedelta(days=629, hours=12)
    assert not [d for d in retention.plan(store, settings, now) if d.account_id == "under"]

    holds.place(store, settings.processing_register, "coop", "held", "pending claim", "dpo", now)
    # A late event of "late" arrives, dated after "under"'s last use: its last use moves.
    _ingest(ingestor, [_event("late", 99)])

    planned = retention.run(store, settings, now, dry_run=True)
    assert {d.account_id for d in planned.due} == {"over"}
    assert _rows_of(store, "over") == 1  # a dry run changes nothing

    report = retention.run(store, settings, now)
    assert report.tables["audit_events"] == 1
    assert _rows_of(store, "over") == 0
    assert _rows_of(store, "under") == 1
    assert _rows_of(store, "held") == 1
    assert _rows_of(store, "late") == 2
    # The held account's rows outlive any TTL while the hold lasts.
    held = query_rows(store.client, f"SELECT DISTINCT retention_days FROM {store.database}.audit_events "
                      "WHERE actor_account_id = 'held'")  # fmt: skip
    assert held == [(holds.HELD_DAYS,)]
    # An account erased for disuse that comes back is recorded as anyone is: not a late arrival.
    _ingest(ingestor, [_event("over", 0)])
    assert _rows_of(store, "over") == 1
    # The run is in the audit trail, and names no account.
    trail = query_rows(store.client, f"SELECT subject_id, details FROM {store.database}.audit_events "
                       "WHERE action = 'retention.erase'")  # fmt: skip
    assert trail[0][0] == "retention:run"
    assert "over" not in str(trail[0][1])


def test_a_closed_account_goes_after_the_grace(store: Store) -> None:
    audit = DEFAULT_REGISTER.default["audit"].model_copy(update={"closure_grace_days": 30})
    register = DEFAULT_REGISTER.model_copy(update={"default": {**DEFAULT_REGISTER.default, "audit": audit}})
    settings = settings_for_tests(processing_register=register)
    ingestor = Ingestor(settings, store)
    _ingest(ingestor, [_event("leaver", 5), _event("admin", 4, resource_type="account", resource_id="leaver",
                                                   action="account.closed")])  # fmt: skip
    now = datetime.now(UTC)
    # The consent stream has no grace: its rows are due at once; the audit stream's after 30 days.
    at_once = [d for d in retention.plan(store, settings, now) if d.account_id == "leaver"]
    assert at_once[0].reason == "closed"
    assert "consent" in at_once[0].streams
    assert "audit" not in at_once[0].streams
    assert (
        "audit"
        not in next(d for d in retention.plan(store, settings, now + 20 * DAY) if d.account_id == "leaver").streams
    )
    later = now + 27 * DAY
    due = [d for d in retention.plan(store, settings, later) if d.account_id == "leaver"]
    assert due
    assert due[0].reason == "closed"
    assert "audit" in due[0].streams


def test_apply_brings_row_retention_in_line_with_the_register(store: Store) -> None:
    ingestor = Ingestor(settings_for_tests(), store)
    _ingest(ingestor, [_event("a", 3), _event("b", 3)])
    shorter = DEFAULT_REGISTER.default["audit"].model_copy(update={"retention_days": 365})
    register = DEFAULT_REGISTER.model_copy(update={"default": {**DEFAULT_REGISTER.default, "audit": shorter}})
    settings = settings_for_tests(processing_register=register)
    changes = retention.apply(store, settings)
    # The copy for searches by person (one row per actor of each event here) follows its events.
    assert [(c.table, c.platform, c.before, c.after, c.rows) for c in changes] == [
        ("audit_events", "coop", 730, 365, 2),
        ("audit_by_person", "coop", 730, 365, 2),
    ]
    assert retention.apply(store, settings) == []


def test_declaration_defaults_are_two_years_of_inactivity() -> None:
    assert Declaration(purposes=("P2",), legal_basis="legitimate_interests", retention_days=10).inactive_days == 730
