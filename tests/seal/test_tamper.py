"""Tampering behind ccaudit's back, with statements run directly on the engine: every case is
detected and named; an untouched store, rows expired by their TTL, and erased rows verify clean.

The chain of each test: seal 1 holds 4 audit rows, seal 2 holds 3, seal 3 holds 2, seal 4 is an
empty period.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from ccaudit.seal.canonical import STREAMS
from ccaudit.seal.seals import seal_path
from tests.seal.conftest import World


@pytest.fixture
def sealed(world: World) -> World:
    for n in (4, 3, 2, 0):
        if n:
            world.ingest_audit(n)
        world.seal()
    return world


def _ids(world: World, seq: int) -> list[str]:
    return [x.row_id for x in world.seals.leaves("coop", "audit", seq)]


def _mutate(world: World, statement: str, parameters: dict[str, object] | None = None) -> None:
    world.sql(statement + " SETTINGS mutations_sync = 2", parameters)


def _found(world: World) -> set[tuple[str, object]]:
    report = world.verify()
    return {(f["kind"], f.get("row_id", f.get("seq"))) for f in report.findings}


def test_an_untouched_store_verifies_clean(sealed: World) -> None:
    report = sealed.verify()
    assert report.ok, report.findings
    assert report.counts["rows_checked"] >= 9
    chains = {(c["platform"], c["stream"]): c for c in report.chains}
    assert chains[("coop", "audit")]["seals"] == 4
    assert ("_service", "access") in chains
    assert ("coop", "consent") in chains


@pytest.mark.parametrize(
    ("column", "value"), [("status", 500), ("actor_account_id", "mallory"), ("client_ip", "198.51.100.9")]
)
def test_one_changed_field_of_one_row_is_named(sealed: World, column: str, value: object) -> None:
    target = _ids(sealed, 2)[1]
    db = sealed.store.database
    _mutate(sealed, f"ALTER TABLE {db}.audit_events UPDATE {column} = {{v:String}} WHERE event_id = {{id:UUID}}",
            {"v": str(value), "id": target})  # fmt: skip
    assert _found(sealed) == {("row_modified", target)}


def test_a_deleted_row_is_named(sealed: World) -> None:
    target = _ids(sealed, 1)[0]
    sealed.sql(f"DELETE FROM {sealed.store.database}.audit_events WHERE event_id = {{id:UUID}}", {"id": target})
    assert _found(sealed) == {("row_removed", target)}


def test_a_forged_row_in_a_sealed_period_is_named(sealed: World) -> None:
    db = sealed.store.database
    forged = str(uuid.uuid4())
    # A row under a new id, stamped as received in the second period.
    sealed.sql(
        f"INSERT INTO {db}.audit_events (event_id, event_time, received_at, platform, organisation, action, "
        "retention_days) SELECT toUUID({id:String}), event_time, received_at, platform, organisation, "
        "'user.delete', retention_days FROM {db}.audit_events WHERE event_id = {src:UUID}".replace("{db}", db),
        {"id": forged, "src": _ids(sealed, 2)[0]},
    )
    assert _found(sealed) == {("row_inserted", forged)}


def test_a_whole_period_deleted_with_its_seal_is_named_with_its_rows(sealed: World) -> None:
    db = sealed.store.database
    gone = _ids(sealed, 2)
    sealed.sql(f"DELETE FROM {db}.audit_events WHERE has({{ids:Array(String)}}, toString(event_id))", {"ids": gone})
    sealed.sql(f"DELETE FROM {db}.seals WHERE platform = 'coop' AND stream = 'audit' AND seq = 2")
    sealed.sql(f"DELETE FROM {db}.seal_leaves WHERE platform = 'coop' AND stream = 'audit' AND seq = 2")
    found = _found(sealed)
    assert ("seal_missing", 2) in found
    assert {r for k, r in found if k == "row_removed"} == set(gone)


def test_a_whole_period_deleted_with_its_seal_in_the_store_and_the_folder_is_named(sealed: World) -> None:
    db = sealed.store.database
    gone = _ids(sealed, 2)
    sealed.sql(f"DELETE FROM {db}.audit_events WHERE has({{ids:Array(String)}}, toString(event_id))", {"ids": gone})
    sealed.sql(f"DELETE FROM {db}.seals WHERE platform = 'coop' AND stream = 'audit' AND seq = 2")
    sealed.sql(f"DELETE FROM {db}.seal_leaves WHERE platform = 'coop' AND stream = 'audit' AND seq = 2")
    seal_path(sealed.folder, "coop", "audit", 2).unlink()
    # Seal 3 names a predecessor that neither the store nor the folder holds: the period is missing.
    # Its rows cannot be named (nothing of their leaves is left), the gap can.
    assert _found(sealed) == {("seal_missing", 2)}


def test_an_altered_seal_is_named(sealed: World) -> None:
    db = sealed.store.database
    _mutate(sealed, f"ALTER TABLE {db}.seals UPDATE payload = replace(payload, '\"leaf_count\":4', '\"leaf_count\":3') "
            "WHERE platform = 'coop' AND stream = 'audit' AND seq = 1")  # fmt: skip
    found = _found(sealed)
    assert ("seal_altered", 1) in found
    assert {k for k, _ in found} <= {"seal_altered", "seal_missing", "folder_mismatch"}


def test_two_swapped_seals_are_named(sealed: World) -> None:
    db = sealed.store.database
    rows = {
        seq: sealed.store.client.query(
            f"SELECT payload, signature FROM {db}.seals WHERE platform = 'coop' AND stream = 'audit' AND seq = {{s:UInt64}}",
            parameters={"s": seq},
        ).result_rows[0]
        for seq in (2, 3)
    }
    for seq, other in ((2, 3), (3, 2)):
        _mutate(sealed, f"ALTER TABLE {db}.seals UPDATE payload = {{p:String}}, signature = {{g:String}} "
                "WHERE platform = 'coop' AND stream = 'audit' AND seq = {s:UInt64}",
                {"p": rows[other][0], "g": rows[other][1], "s": seq})  # fmt: skip
    found = _found(sealed)
    assert {("seal_reordered", 2), ("seal_reordered", 3)} <= found


def test_a_replaced_seal_file_is_named(sealed: World) -> None:
    two = seal_path(sealed.folder, "coop", "audit", 2)
    three = seal_path(sealed.folder, "coop", "audit", 3)
    two.write_text(three.read_text())
    found = _found(sealed)
    assert ("folder_mismatch", 2) in found


def test_a_forged_seal_file_is_named(sealed: World) -> None:
    path = seal_path(sealed.folder, "coop", "audit", 3)
    body = json.loads(path.read_text())
    body["payload"] = body["payload"].replace('"leaf_count":2', '"leaf_count":1')
    path.write_text(json.dumps(body))
    found = _found(sealed)
    assert ("seal_altered", 3) in found


def test_a_trusted_head_that_the_chain_no_longer_holds_is_named(sealed: World) -> None:
    from ccaudit.seal.verify import TrustedHead

    head = sealed.sealer.heads("coop")
    audit = next(h for h in head if h["stream"] == "audit")
    assert sealed.verify(heads=[TrustedHead("coop", "audit", audit["seq"], audit["hash"])]).ok
    report = sealed.verify(heads=[TrustedHead("coop", "audit", audit["seq"], "0" * 64)])
    assert {f["kind"] for f in report.findings} == {"trusted_head_mismatch"}


def test_personal_values_replaced_by_hand_with_their_secret_destroyed_are_named(sealed: World) -> None:
    db = sealed.store.database
    target = _ids(sealed, 1)[2]
    # What erasure does, without erasure's record (tests/seal/test_erasure.py has the real one).
    _mutate(sealed, f"ALTER TABLE {db}.audit_events UPDATE actor_account_id = 'erased', subject_id = 'erased', "
            "client_ip = '', user_agent = '', details = map() WHERE event_id = {id:UUID}", {"id": target})  # fmt: skip
    _mutate(sealed, f"ALTER TABLE {db}.seal_leaves UPDATE secret = '' WHERE row_id = {{id:String}}", {"id": target})
    assert _found(sealed) == {("row_secret_gone", target)}


def test_rows_deleted_by_their_ttl_verify_clean_and_the_same_row_deleted_early_does_not(world: World) -> None:
    db = world.store.database
    expiring = str(uuid.uuid4())
    # Stored nearly a day ago with a retention of one day: its TTL ends 30 s from now, time enough
    # for it to be sealed first on a loaded machine.
    world.sql(
        f"INSERT INTO {db}.audit_events (event_id, event_time, received_at, platform, retention_days) "
        "VALUES ({id:UUID}, now64(3) - INTERVAL 86370 SECOND, now64(3), 'coop', 1)",
        {"id": expiring},
    )
    world.ingest_audit(2)
    world.seal()
    leaf = next(x for x in world.seals.leaves("coop", "audit", 1) if x.row_id == expiring)
    while time.time() * 1000 <= leaf.expires_ms + 1000:
        time.sleep(0.2)
    world.sql(f"OPTIMIZE TABLE {db}.audit_events FINAL")
    left = world.store.client.query(f"SELECT count() FROM {db}.audit_events WHERE event_id = {{id:UUID}}",
                                    parameters={"id": expiring}).result_rows[0][0]  # fmt: skip
    assert left == 0, "the engine's TTL removed the row"
    report = world.verify()
    assert report.ok, report.findings
    assert report.counts["expired"] == 1


def test_an_unwritable_seal_folder_fails_loudly_and_verify_names_the_missing_file(world: World) -> None:
    world.ingest_audit(2)
    # A file where the platform's folder of seal files should be: the seal is stored, its file is not.
    world.folder.mkdir(parents=True, exist_ok=True)
    blocker = world.folder / "coop"
    blocker.write_text("not a folder")
    assert world.sealer.run_once(final=True) == 0
    status = world.sealer.status()
    assert status["status"] == "failing"
    assert "coop" in status["error"]
    blocker.unlink()
    world.ingest_audit(1)
    assert world.sealer.run_once(final=True) > 0
    assert world.sealer.status()["status"] == "ok"
    assert _found(world) == {("folder_mismatch", 1)}


def test_the_sealer_does_not_chain_onto_an_altered_seal(sealed: World) -> None:
    db = sealed.store.database
    _mutate(sealed, f"ALTER TABLE {db}.seals UPDATE payload = replace(payload, '\"leaf_count\":0', '\"leaf_count\":5') "
            "WHERE platform = 'coop' AND stream = 'audit' AND seq = 4")  # fmt: skip
    sealed.ingest_audit(1)
    before = sealed.sealer.seals_made
    assert sealed.sealer.run_once(final=True) == 0
    # The other chains (one per stream: coop's, and the service's access and changes) were sealed in
    # that round; coop/audit stays where it was.
    assert sealed.sealer.seals_made == before + len(STREAMS) - 1
    assert sealed.seals.latest("coop", "audit").seq == 4  # type: ignore[union-attr]
    status = sealed.sealer.status()
    assert status["status"] == "failing"
    assert "coop/audit (#4) does not verify" in status["error"]


def test_seals_under_a_rotated_key_verify_and_a_key_no_list_holds_is_named(sealed: World) -> None:
    from ccaudit.seal import keys
    from ccaudit.seal.verify import load_public_keys, verify_store

    old = keys.load(sealed.key_file).key_id
    new = keys.rotate(sealed.key_file)
    assert new != old
    sealed.ingest_audit(2)
    sealed.seal()
    latest = sealed.seals.latest("coop", "audit")
    assert latest is not None
    assert json.loads(latest.payload)["key_id"] == new
    assert sealed.verify().ok
    # An auditor who pinned only the old key is told which seals it cannot check.
    only_old = {old: load_public_keys(keys.public_keys_file(sealed.key_file))[old]}
    report = verify_store(sealed.seals, sealed.folder, only_old, now_ms=int(time.time() * 1000))
    assert {(f["kind"], f.get("key_id")) for f in report.findings if f["kind"] == "unknown_key"} == {
        ("unknown_key", new)
    }


def test_learning_events_are_sealed_and_a_changed_removed_or_forged_one_is_named(world: World) -> None:
    from tests.ingest.test_pipeline import batch
    from tests.learning.events import learning

    events = [learning("progressed", 0), learning("passed", 1), learning("completed", 2), learning("waived", 3)]
    world.ingestor.ingest(batch(events))
    world.seal()
    assert world.verify().ok
    db = world.store.database
    ids = [str(e["event_id"]) for e in events]
    _mutate(world, f"ALTER TABLE {db}.learning_events UPDATE score = 1.0 WHERE event_id = {{id:UUID}}", {"id": ids[1]})
    _mutate(world, f"ALTER TABLE {db}.learning_events UPDATE profession = 'student' WHERE event_id = {{id:UUID}}",
            {"id": ids[3]})  # fmt: skip
    world.sql(f"DELETE FROM {db}.learning_events WHERE event_id = {{id:UUID}}", {"id": ids[2]})
    forged = str(uuid.uuid4())
    world.sql(
        f"INSERT INTO {db}.learning_events (event_id, event_time, received_at, platform, verb, learner, module, "
        f"retention_days) SELECT toUUID({{id:String}}), event_time, received_at, platform, 'passed', learner, module, "
        f"retention_days FROM {db}.learning_events WHERE event_id = {{src:UUID}}",
        {"id": forged, "src": ids[0]},
    )
    report = world.verify()
    found = {(f["kind"], f["stream"], f.get("row_id")) for f in report.findings}
    assert found == {
        ("row_modified", "learning", ids[1]),
        ("row_modified", "learning", ids[3]),
        ("row_removed", "learning", ids[2]),
        ("row_inserted", "learning", forged),
    }
