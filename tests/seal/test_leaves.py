"""The engine's leaves are the documented ones: a row fetched into Python and hashed by
ccaudit.seal.canonical gives the very leaf the engine stored when it sealed the row, and the seal's
file lists the very leaves the store holds."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import orjson

from ccaudit.register import DEFAULT_REGISTER
from ccaudit.rights.erase import erase
from ccaudit.rights.subjects import find_subject
from ccaudit.seal import canonical as cf
from ccaudit.seal import merkle
from ccaudit.seal.seals import Seal, seal_path
from tests.ingest.test_pipeline import batch
from tests.learning.events import learning
from tests.seal.conftest import World


def _rows(world: World, form: cf.StreamForm) -> dict[str, dict[str, Any]]:
    result = world.store.client.query(f"SELECT * FROM {world.store.database}.{form.table}")
    rows = [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]
    return {cf.row_id(form, r): r for r in rows}


def _secrets(world: World) -> dict[str, bytes]:
    result = world.store.client.query(
        f"SELECT row_id, secret FROM {world.store.database}.seal_leaves WHERE secret != ''"
    )
    out = {}
    for rid, secret in result.result_rows:
        out[str(rid)] = bytes.fromhex(secret)
    return out


def test_the_engines_leaves_and_root_are_the_ones_python_computes(world: World) -> None:
    world.ingest_audit(7)
    world.ingest_consent(3)
    # Learning rows with and without their nullable numbers (progress, score, duration).
    events = [learning("progressed", 0), learning("passed", 1, duration_ms=1250.5), learning("completed", 2),
              learning("waived", 3)]  # fmt: skip
    world.ingestor.ingest(batch(events))
    world.seal()
    _check(world, (cf.AUDIT, cf.CONSENT, cf.LEARNING), "coop")


def test_the_change_records_leaves_are_the_ones_python_computes(world: World) -> None:
    world.ingest_audit(4)
    world.seal()
    erase(world.store, DEFAULT_REGISTER, find_subject(world.store, DEFAULT_REGISTER, ["acct-1"]), now=datetime.now(UTC))
    world.seal()
    _check(world, (cf.CHANGES,), cf.SERVICE_PLATFORM)


def _check(world: World, forms: tuple[cf.StreamForm, ...], platform: str) -> None:
    secrets = _secrets(world)
    for form in forms:
        rows = _rows(world, form)
        latest = world.seals.latest(platform, form.stream)
        assert latest is not None
        seal = Seal.from_payload(latest.payload)
        leaves = world.seals.leaves(platform, form.stream, seal.seq)
        assert leaves
        assert {x.row_id for x in leaves} == set(rows)
        for x in leaves:
            row = rows[x.row_id]
            commitment = cf.commitment(form, row, secrets[x.row_id])
            assert x.commitment == commitment
            digest = cf.row_digest(form, row, commitment)
            assert x.digest == digest
            assert x.expires_ms == cf.expires_ms(form, row)
            assert x.leaf == cf.leaf(x.row_id, x.expires_ms, digest)
        assert seal.root == merkle.root([x.leaf for x in sorted(leaves, key=lambda x: (x.row_id, x.leaf))])
        assert seal.leaf_count == len(rows)
        # The engine renders the file's listing: plain JSON, numbers as numbers, in canonical order.
        listed = orjson.loads(seal_path(world.folder, platform, form.stream, seal.seq).read_bytes())["leaves"]
        assert listed == [[x.row_id, x.expires_ms, x.digest, x.commitment, x.leaf] for x in leaves]


def _secret_rows(world: World) -> dict[str, list[str]]:
    result = world.store.client.query(f"SELECT row_id, groupArray(secret) FROM {world.store.database}.seal_leaves "
                                      "WHERE secret != '' GROUP BY row_id")  # fmt: skip
    return {str(rid): sorted(secrets) for rid, secrets in result.result_rows}


def test_a_seal_begun_and_interrupted_is_made_again_with_one_secret_a_row(world: World) -> None:
    ids = world.ingest_audit(6)
    # The first attempt at seq 1 stores its leaves and secrets, then stops before its seal.
    world.seals.make_leaves(cf.AUDIT, "coop", 1, 0, int(time.time() * 1000) + 1, world.sealer.sealer_id)
    drawn = _secret_rows(world)
    assert set(drawn) == set(ids)
    world.seal()
    # No seal used the first attempt's leaves: they went with their secrets, and the rows drew anew.
    # One secret a row, one leaf a row under seq 1, and they agree.
    secrets = _secret_rows(world)
    assert set(secrets) == set(ids)
    assert all(len(s) == 1 and s != drawn[rid] for rid, s in secrets.items())
    assert sorted(x.row_id for x in world.seals.leaves("coop", "audit", 1)) == sorted(ids)
    _check(world, (cf.AUDIT,), "coop")
    assert world.verify().ok


def _as_before_0047(world: World) -> None:
    """The store as migration 0047 found it: every sealed row's secret in row_secrets, none beside its leaf."""
    db = world.store.database
    world.sql(f"INSERT INTO {db}.row_secrets (stream, row_id, secret) SELECT stream, row_id, secret "
              f"FROM {db}.seal_leaves WHERE secret != ''")  # fmt: skip
    world.sql(f"ALTER TABLE {db}.seal_leaves UPDATE secret = '' WHERE 1 SETTINGS mutations_sync = 2")


def test_rows_sealed_before_their_secrets_moved_beside_their_leaves_still_verify(world: World) -> None:
    world.ingest_audit(9)  # actors acct-0, acct-1, acct-2, three rows each
    world.seal()
    _as_before_0047(world)
    assert world.verify().ok
    # Sealed since: their secrets beside their leaves; a stale secret left in row_secrets (an
    # attempt interrupted before the migration) does not shadow the one the leaf was made with.
    ids = world.ingest_audit(3)
    db = world.store.database
    world.sql(f"INSERT INTO {db}.row_secrets (stream, row_id, secret) SELECT 'audit', arrayJoin({{ids:Array(String)}}), "
              "lower(hex(randomString(32)))", {"ids": ids})  # fmt: skip
    world.seal()
    assert world.verify().ok
    # Erasure destroys the old rows' secrets in row_secrets too.
    erase(world.store, DEFAULT_REGISTER, find_subject(world.store, DEFAULT_REGISTER, ["acct-1"]), now=datetime.now(UTC))
    left = world.store.client.query(f"SELECT count() FROM {db}.row_secrets WHERE row_id IN (SELECT row_id FROM "
                                    f"{db}.seal_changes WHERE change = 'erased')").result_rows  # fmt: skip
    assert left == [(0,)]
    report = world.verify()
    assert report.ok, report.findings
    assert report.counts["erased"] >= 3
    # And an old row's secret destroyed by hand still shows.
    kept = world.store.client.query(f"SELECT row_id FROM {db}.row_secrets WHERE row_id IN (SELECT row_id FROM "
                                    f"{db}.seal_leaves WHERE secret = '') LIMIT 1").result_rows[0][0]  # fmt: skip
    world.sql(f"DELETE FROM {db}.row_secrets WHERE row_id = {{id:String}}", {"id": kept})
    assert {(f["kind"], f["row_id"]) for f in world.verify().findings} == {("row_secret_gone", kept)}
