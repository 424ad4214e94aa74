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
    result = world.store.client.query(f"SELECT row_id, secret FROM {world.store.database}.row_secrets")
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
    result = world.store.client.query(f"SELECT row_id, groupArray(secret) FROM {world.store.database}.row_secrets "
                                      "GROUP BY row_id")  # fmt: skip
    return {str(rid): sorted(secrets) for rid, secrets in result.result_rows}


def test_a_seal_begun_and_interrupted_is_made_again_with_the_secrets_it_drew(world: World) -> None:
    ids = world.ingest_audit(6)
    # The first attempt at seq 1 stores its leaves and secrets, then stops before its seal.
    world.seals.make_leaves(cf.AUDIT, "coop", 1, 0, int(time.time() * 1000) + 1, world.sealer.sealer_id)
    drawn = _secret_rows(world)
    assert set(drawn) == set(ids)
    assert all(len(s) == 1 for s in drawn.values())
    world.seal()
    # One secret a row, the one first drawn; one leaf a row under seq 1; and they agree.
    assert _secret_rows(world) == drawn
    assert sorted(x.row_id for x in world.seals.leaves("coop", "audit", 1)) == sorted(ids)
    _check(world, (cf.AUDIT,), "coop")
    assert world.verify().ok


def test_an_attempt_stopped_between_its_secrets_and_its_leaves_keeps_the_secrets(world: World) -> None:
    ids = world.ingest_audit(6)
    db = world.store.database
    # What the one pass may leave when it stops half-way: the attempt noted, some secrets, no leaves.
    world.sql(f"INSERT INTO {db}.seal_attempts (platform, stream, seq, sealer) VALUES ('coop', 'audit', 1, "
              "{sealer:String})", {"sealer": world.sealer.sealer_id})  # fmt: skip
    world.sql(f"INSERT INTO {db}.row_secrets (stream, row_id, secret) SELECT 'audit', arrayJoin({{ids:Array(String)}}), "
              "lower(hex(randomString(32)))", {"ids": ids[:3]})  # fmt: skip
    kept = _secret_rows(world)
    world.seal()
    secrets = _secret_rows(world)
    assert set(secrets) == set(ids)
    assert all(len(s) == 1 for s in secrets.values())
    assert {rid: secrets[rid] for rid in kept} == kept
    _check(world, (cf.AUDIT,), "coop")
    assert world.verify().ok
