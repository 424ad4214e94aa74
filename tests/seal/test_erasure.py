"""Erasure and retention meet the seals: what ccaudit itself changes in sealed rows (a subject erased,
rows deleted by the retention job, retention set anew, a legal hold) verifies clean and is listed as
accounted for, while the same changes made behind ccaudit's back are still named.

Erasure and the retention job are the real ones (ccaudit.rights); the tampering is statements run
directly on the engine.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from ccaudit.register import DEFAULT_REGISTER, ProcessingRegister
from ccaudit.rights import holds, retention
from ccaudit.rights.erase import erase
from ccaudit.rights.subjects import find_subject
from ccaudit.store.client import query_rows
from tests.conftest import days_ago_ms, settings_for_tests
from tests.learning.events import learning
from tests.seal.conftest import World


def _rows(world: World, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
    return [tuple(r) for r in query_rows(world.store.client, sql.replace("{db}", world.store.database), params)]


def _ids_of(world: World, actor: str) -> list[str]:
    return [str(r[0]) for r in _rows(world, "SELECT event_id FROM {db}.audit_events WHERE actor_account_id = {a:String}",
                                     {"a": actor})]  # fmt: skip


def _found(world: World) -> set[tuple[str, object]]:
    return {(f["kind"], f.get("row_id", f.get("seq"))) for f in world.verify().findings}


def _mutate(world: World, statement: str, params: dict[str, Any]) -> None:
    world.sql(statement.replace("{db}", world.store.database) + " SETTINGS mutations_sync = 2", params)


def test_an_erased_subject_verifies_clean_and_a_real_tamper_is_still_named(world: World) -> None:
    world.ingest_audit(9)  # actors acct-0, acct-1, acct-2, three rows each
    world.ingestor.ingest(_batch("coop", [learning("completed", 0, learner="acct-1"), learning("completed", 1)]))
    world.seal()
    erased = _ids_of(world, "acct-1")
    learned = [str(r[0]) for r in _rows(world, "SELECT event_id FROM {db}.learning_events WHERE learner = 'acct-1'")]
    assert len(erased) == 3
    assert len(learned) == 1

    register = DEFAULT_REGISTER
    done = erase(world.store, register, find_subject(world.store, register, ["acct-1"]), now=datetime.now(UTC))
    assert done.tables["audit_events"] == ("pseudonymise", 3)
    assert done.tables["learning_events"] == ("delete", 1)
    assert _ids_of(world, "acct-1") == []
    # The secrets went with the values: the sealed commitments can confirm no guess any more.
    left = _rows(world, "SELECT row_id FROM {db}.seal_leaves WHERE has({ids:Array(String)}, row_id) AND secret != ''",
                 {"ids": erased + learned})  # fmt: skip
    assert left == []

    report = world.verify()
    assert report.ok, report.findings
    assert report.counts["erased"] == 3
    assert report.counts["erased_deleted"] == 1
    causes = {(a["change"], a["stream"], a["rows"]) for a in report.accounted}
    assert {("erased", "audit", 3), ("deleted", "learning", 1)} <= causes
    # The records are sealed in their own chain, and still verify once sealed.
    world.seal()
    report = world.verify()
    assert report.ok, report.findings
    assert any(c["stream"] == "changes" and c["rows"] >= 4 for c in report.chains)

    # Behind ccaudit's back: a public field of an erased row, a kept row's actor with its secret
    # destroyed by hand, a kept row deleted, a forged change record for it.
    kept = _ids_of(world, "acct-0")
    _mutate(world, "ALTER TABLE {db}.audit_events UPDATE status = 500 WHERE event_id = {id:UUID}", {"id": erased[0]})
    _mutate(world, "ALTER TABLE {db}.seal_leaves UPDATE secret = '' WHERE row_id = {id:String}", {"id": kept[0]})
    _mutate(world, "ALTER TABLE {db}.audit_events UPDATE actor_account_id = 'mallory' WHERE event_id = {id:UUID}",
            {"id": kept[0]})  # fmt: skip
    world.sql(f"DELETE FROM {world.store.database}.audit_events WHERE event_id = {{id:UUID}}", {"id": kept[1]})
    assert _found(world) == {("row_modified", erased[0]), ("row_secret_gone", kept[0]), ("row_removed", kept[1])}


def test_a_change_record_removed_after_its_seal_is_named(world: World) -> None:
    world.ingest_audit(3)
    world.seal()
    register = DEFAULT_REGISTER
    erase(world.store, register, find_subject(world.store, register, ["acct-2"]), now=datetime.now(UTC))
    world.seal()
    assert world.verify().ok
    record = _rows(world, "SELECT toString(change_id), row_id FROM {db}.seal_changes WHERE stream = 'audit'")[0]
    # Removing the record after its seal shows twice: in the records' chain, and as an erasure no
    # record accounts for.
    world.sql(f"DELETE FROM {world.store.database}.seal_changes WHERE change_id = {{id:UUID}}", {"id": record[0]})
    found = _found(world)
    assert ("row_removed", record[0]) in found
    assert ("row_secret_gone", record[1]) in found


def _for_coop(**audit: Any) -> ProcessingRegister:
    declaration = DEFAULT_REGISTER.default["audit"].model_copy(update=audit)
    return DEFAULT_REGISTER.model_copy(update={"platforms": {"coop": {"audit": declaration}}})


def _batch(platform: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schema_version": 1, "batch_id": str(uuid.uuid4()), "platform": platform, "events": events}


def test_rows_expired_by_a_shortened_retention_and_deleted_by_the_job_verify_clean(world: World) -> None:
    db = world.store.database

    def event(actor: str, days: int) -> dict[str, Any]:
        return {"stream": "audit", "event_id": str(uuid.uuid4()), "event_time": days_ago_ms(days), "action": "login",
                "outcome": "success", "actor_account_id": actor}  # fmt: skip

    # Kept 730 days when sealed. user-0 was last seen 5 days ago, the others 2; "library" is not coop.
    world.ingestor.ingest(_batch("coop", [event("user-0", 5), event("user-1", 2), event("user-2", 2)]))
    by_hand = event("keeper", 2)
    world.ingestor.ingest(_batch("library", [by_hand]))
    world.seal()

    # The job, with coop's inactivity at 4 days: user-0's rows are deleted.
    settings = settings_for_tests(processing_register=_for_coop(on_erase="delete", inactive_days=4))
    report = retention.run(world.store, settings, datetime.now(UTC))
    assert report.tables["audit_events"] == 1
    assert not _rows(world, "SELECT 1 FROM {db}.audit_events WHERE actor_account_id = 'user-0'")
    # Coop's retention shortened to one day: the rows' TTL has passed, the engine drops them.
    settings = settings_for_tests(processing_register=_for_coop(retention_days=1))
    assert [(c.platform, c.after) for c in retention.apply(world.store, settings) if c.table == "audit_events"] == [
        ("coop", 1)
    ]
    # Behind ccaudit's back: library's row gets the same short retention, with no record.
    _mutate(world, "ALTER TABLE {db}.audit_events UPDATE retention_days = 1 WHERE event_id = {id:UUID}",
            {"id": by_hand["event_id"]})  # fmt: skip
    world.sql(f"OPTIMIZE TABLE {db}.audit_events FINAL")
    assert _rows(world, "SELECT count() FROM {db}.audit_events WHERE platform IN ('coop', 'library')") == [(0,)]

    report = world.verify()
    assert {(f["kind"], f.get("row_id")) for f in report.findings} == {("row_removed", by_hand["event_id"])}
    assert report.counts["erased_deleted"] == 1
    assert report.counts["expired"] == 2
    changes = {(a["cause"].split(":")[0], a["change"]) for a in report.accounted}
    assert {("erase", "deleted"), ("retention.apply", "retention")} <= changes


def test_a_hold_raises_retention_on_the_record_and_by_hand_it_shows(world: World) -> None:
    world.ingest_audit(6)
    world.seal()
    register = DEFAULT_REGISTER
    held = _ids_of(world, "acct-1")
    assert holds.place(world.store, register, "coop", "acct-1", "pending claim", "dpo", datetime.now(UTC)) >= 2
    report = world.verify()
    assert report.ok, report.findings
    assert report.counts["retention_changed"] == 2
    other = _ids_of(world, "acct-0")[0]
    _mutate(world, "ALTER TABLE {db}.audit_events UPDATE retention_days = 3650 WHERE event_id = {id:UUID}",
            {"id": other})  # fmt: skip
    assert _found(world) == {("row_modified", other)}
    assert set(held) == {str(r[0]) for r in _rows(world, "SELECT row_id FROM {db}.seal_changes")}
