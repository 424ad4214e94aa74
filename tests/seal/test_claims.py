"""One sealer per platform's period, with several sealers on one store (migration 0046): a sealer
claims a seq before it draws any secret, stands down while another holds it, and takes over a seq
whose sealer is gone once the claim lapses. Sealers racing on real engine handles leave one secret
per row and a chain that verifies."""

from __future__ import annotations

import threading
import time

import pytest

from ccaudit.seal.sealer import Sealer, identity
from ccaudit.seal.seals import Seal
from ccaudit.seal.store import CLAIM_MS, SealStore
from ccaudit.store.client import insert_rows, job_client
from tests.seal.conftest import World


def _secrets_per_row(world: World) -> dict[str, int]:
    result = world.store.client.query(
        f"SELECT row_id, count() FROM {world.store.database}.seal_leaves WHERE secret != '' GROUP BY row_id"
    )
    return {str(rid): int(n) for rid, n in result.result_rows}


def _other(world: World, name: str, period_s: float = 300.0, settle_s: float = 0.0) -> Sealer:
    """A second sealer on the same store, as another replica would run it: its own engine handle,
    the deployment's key and folder, another identity."""
    seals = SealStore(job_client(world.store.client, f"sealer-{name}"), world.store.database)
    return Sealer(seals, period_s=period_s, settle_s=settle_s, folder=world.folder, key_file=world.key_file,
                  platforms=lambda: ["coop"], sealer_id=name)  # fmt: skip


def _claim(world: World, sealer: str, age_ms: int) -> None:
    """An attempt at coop/audit #1 by ``sealer``, begun ``age_ms`` ago, that never got its seal."""
    world.sql(
        f"INSERT INTO {world.store.database}.seal_attempts (platform, stream, seq, sealer, began) "
        "VALUES ('coop', 'audit', 1, {sealer:String}, now64(3) - toIntervalMillisecond({age:Int64}))",
        {"sealer": sealer, "age": age_ms},
    )


def test_a_sealer_stands_down_while_another_holds_the_period(world: World) -> None:
    ids = world.ingest_audit(5)
    _claim(world, "replica-b", age_ms=1_000)
    world.seal()
    # No secret drawn, no leaf, no seal of coop/audit: replica-b's pass may be running.
    assert world.seals.latest("coop", "audit") is None
    assert _secrets_per_row(world) == {}
    assert not world.seals.leaves("coop", "audit", 1)
    # The other streams were sealed meanwhile.
    assert world.seals.latest("coop", "consent") is not None
    # replica-b seals it: its own attempt, so it goes on; then this sealer continues the chain.
    other = _other(world, "replica-b")
    other.seal_due(final=True)
    assert world.seals.latest("coop", "audit") is not None
    assert _secrets_per_row(world) == dict.fromkeys(ids, 1)
    world.ingest_audit(2)
    world.seal()
    latest = world.seals.latest("coop", "audit")
    assert latest is not None
    assert latest.seq == 2
    assert world.verify().ok


@pytest.mark.parametrize(
    ("claimant", "age_ms"),
    [("replica-gone", CLAIM_MS + 60_000), ("self", 1_000)],
    ids=["another's claim, lapsed", "its own claim, from before a restart"],
)
def test_a_sealer_takes_over_a_lapsed_claim_and_its_own_at_once(world: World, claimant: str, age_ms: int) -> None:
    ids = world.ingest_audit(5)
    # A restarted sealer has the same host and key file as before, so the same identity.
    assert world.sealer.sealer_id == identity(world.key_file)
    _claim(world, world.sealer.sealer_id if claimant == "self" else claimant, age_ms)
    world.seal()
    latest = world.seals.latest("coop", "audit")
    assert latest is not None
    assert latest.seq == 1
    assert _secrets_per_row(world) == dict.fromkeys(ids, 1)
    assert world.verify().ok


def test_sealers_racing_on_one_store_draw_one_secret_per_row_and_verify_clean(world: World) -> None:
    # Short periods on the grid, with a settle delay longer than an insert here: as the service
    # seals while ingest goes on (a period is sealed once batches stamped in it are stored).
    settle = 0.5
    sealers = [_other(world, f"replica-{x}", period_s=0.2, settle_s=settle) for x in "ab"]
    stop = threading.Event()
    errors: list[BaseException] = []

    def seal_on(sealer: Sealer) -> None:
        try:
            while not stop.is_set():
                time.sleep(0.01)
                sealer.seal_due()
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=seal_on, args=(s,)) for s in sealers]
    for t in threads:
        t.start()
    ids: list[str] = []
    try:
        for _ in range(15):
            ids += world.ingest_audit(4)
            time.sleep(0.05)
        time.sleep(settle + 0.3)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not errors, errors
    sealers[0].seal_due(final=True)  # ingest has stopped: as at shutdown
    assert _secrets_per_row(world) == dict.fromkeys(ids, 1)
    stored = world.seals.stored_seals("coop", "audit")
    assert [s.seq for s in stored] == list(range(1, len(stored) + 1))
    made = {str(r[0]) for r in world.store.client.query(
        f"SELECT DISTINCT sealer FROM {world.store.database}.seals WHERE stream = 'audit'").result_rows}  # fmt: skip
    assert made <= {"replica-a", "replica-b"}
    report = world.verify()
    assert report.ok, report.findings[:5]
    assert report.counts.get("rows_checked") == len(ids)


def test_of_two_claims_on_one_attempt_the_engine_keeps_the_first(world: World) -> None:
    """What the race turns on: the second insert of a claim's token is dropped, not stored beside it."""
    db = world.store.database
    for sealer in ("replica-a", "replica-b"):
        insert_rows(world.store.client, db, "seal_attempts", [["coop", "audit", 7, sealer]],
                    ("platform", "stream", "seq", "sealer"), {"insert_deduplication_token": "claim/coop/audit/7/0"})  # fmt: skip
    kept = world.store.client.query(f"SELECT sealer FROM {db}.seal_attempts WHERE seq = 7").result_rows
    assert kept == [("replica-a",)]


def test_an_empty_period_left_unfinished_is_sealed_empty(world: World) -> None:
    """Every period is claimed, so an unfinished attempt may be at an empty one."""
    _claim(world, world.sealer.sealer_id, age_ms=1_000)
    world.seal()
    latest = world.seals.latest("coop", "audit")
    assert latest is not None
    assert Seal.from_payload(latest.payload).leaf_count == 0


def test_the_engine_deletes_attempts_a_month_old(world: World) -> None:
    """Each round notes an attempt per chain; the engine's TTL (migration 0048) removes them after 30
    days, on its own clock, and keeps the recent ones a claim needs."""
    db = world.store.database
    for seq, age_days in ((5, 31), (6, 29)):
        world.sql(
            f"INSERT INTO {db}.seal_attempts (platform, stream, seq, sealer, began) "
            "VALUES ('coop', 'audit', {seq:UInt64}, 'replica-a', now64(3) - toIntervalDay({age:Int64}))",
            {"seq": seq, "age": age_days},
        )
    world.sql(f"OPTIMIZE TABLE {db}.seal_attempts FINAL")
    kept = world.store.client.query(f"SELECT seq FROM {db}.seal_attempts WHERE seq IN (5, 6)").result_rows
    assert kept == [(6,)]
