"""The platform keeps the seal heads of its ingest answers, so that a chain cut short or rewritten
shows to someone who does not trust the operator: the shipper's transport writes them to the heads
file, ``verify`` takes that file as trusted heads, and the shipper notices a chain that went back."""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

import httpx

from ccaudit.seal.seals import seal_path
from ccaudit.seal.verify import TrustedHead
from ccaudit.shipping.heads import SealHeads, read, trusted_heads
from ccaudit.shipping.transport import HttpTransport
from tests.conftest import Service, clean_env, free_port, start_process, stop_process, wait_until
from tests.ingest.test_pipeline import batch, wire
from tests.seal.conftest import World

H1, H2, H3 = "1" * 64, "2" * 64, "3" * 64


def test_the_highest_head_is_kept_and_a_chain_that_went_back_or_was_rewritten_is_noted(tmp_path: Path) -> None:
    path = tmp_path / "heads.json"
    heads = SealHeads(path, "coop")
    heads.observe([{"stream": "audit", "seq": 3, "hash": H1, "period_end_ms": 10}, {"stream": "consent", "seq": 1,
                   "hash": H2}])  # fmt: skip
    heads.observe([{"stream": "audit", "seq": 4, "hash": H2, "period_end_ms": 20}, "not a head", {"seq": "x"}])
    assert trusted_heads(path) == [f"coop/audit:4:{H2}", f"coop/consent:1:{H2}"]
    assert read(path)["conflicts"] == []
    # The service answers an older seal, then seal 4 under another hash: both noted once, the head kept.
    for _ in range(2):
        heads.observe([{"stream": "audit", "seq": 2, "hash": H3}, {"stream": "audit", "seq": 4, "hash": H3}])
    conflicts = read(path)["conflicts"]
    assert [(c["chain"], c["what"], c["seq"], c["kept_seq"]) for c in conflicts] == [
        ("coop/audit", "went back", 2, 4),
        ("coop/audit", "rewritten", 4, 4),
    ]
    assert trusted_heads(path)[0] == f"coop/audit:4:{H2}"
    # Another process of the platform, with an older view, keeps the higher head when it writes.
    other = SealHeads(tmp_path / "heads.json", "coop")
    other._heads["coop/audit"] = {"seq": 1, "hash": H1}
    other.observe([{"stream": "consent", "seq": 2, "hash": H3}])
    assert trusted_heads(path) == [f"coop/audit:4:{H2}", f"coop/consent:2:{H3}"]


def test_a_chain_cut_short_is_named_against_the_platforms_heads(world: World) -> None:
    kept = SealHeads(world.folder.parent / "platform" / "heads.json", "coop")
    for n in (3, 2):
        world.ingest_audit(n)
        world.seal()
        kept.observe(world.sealer.heads("coop"))  # what each ingest answer carries
    heads = [TrustedHead.parse(h) for h in trusted_heads(kept.path)]
    assert world.verify(heads=heads).ok
    # The operator rolls the chain back: the last seal, its leaves, its file and its rows are gone.
    db = world.store.database
    last = world.seals.latest("coop", "audit")
    assert last is not None
    rows = [x.row_id for x in world.seals.leaves("coop", "audit", last.seq)]
    world.sql(f"DELETE FROM {db}.audit_events WHERE has({{ids:Array(String)}}, toString(event_id))", {"ids": rows})
    for table in ("seals", "seal_leaves"):
        world.sql(f"DELETE FROM {db}.{table} WHERE platform = 'coop' AND stream = 'audit' AND seq = {{s:UInt64}}",
                  {"s": last.seq})  # fmt: skip
    seal_path(world.folder, "coop", "audit", last.seq).unlink()
    # Without the platform's copy nothing shows: the chain ends one seal earlier.
    assert world.verify().ok
    found = {(f["kind"], f["seq"]) for f in world.verify(heads=heads).findings}
    assert found == {("trusted_head_mismatch", last.seq)}


def test_the_shipper_keeps_the_heads_of_a_real_services_answers(tmp_path: Path) -> None:
    port = free_port()
    admin = secrets.token_urlsafe(16)
    # A second to settle, as in production: batches are sent all along, and one stamped at a period's
    # end but stored after its seal would be a row inserted into a sealed period.
    env = clean_env(CCAUDIT_DATA_DIR=str(tmp_path / "data"), CCAUDIT_PORT=str(port), CCAUDIT_ADMIN_TOKEN=admin,
                    CCAUDIT_SEAL_PERIOD="1", CCAUDIT_SEAL_SETTLE="1")  # fmt: skip
    proc = start_process([sys.executable, "-m", "ccaudit", "serve"], env, f"http://127.0.0.1:{port}",
                         tmp_path / "log", "/health")  # fmt: skip
    try:
        service = Service(proc, admin)
        path = tmp_path / "platform" / "seal-heads.json"
        transport = HttpTransport(service.url, token=service.ingest_token("coop"), heads=SealHeads(path, "coop"))
        n = 0

        def shipped_and_kept() -> bool:
            nonlocal n
            n += 1
            transport.send(json.dumps(batch([wire(n)])).encode())
            return "coop/audit" in read(path).get("heads", {})

        wait_until(shipped_and_kept, timeout=60, interval=0.5)
        heads = trusted_heads(path)
        auditor = {"Authorization": f"Bearer {service.personal_token('auditor')}"}
        answer = httpx.get(service.url + "/v1/verify", params={"trusted_head": ",".join(heads)}, headers=auditor,
                           timeout=120).json()  # fmt: skip
        assert answer["ok"], answer["findings"]
        forged = [h.rsplit(":", 1)[0] + ":" + "0" * 64 for h in heads if h.startswith("coop/audit:")]
        answer = httpx.get(service.url + "/v1/verify", params={"trusted_head": forged}, headers=auditor,
                           timeout=120).json()  # fmt: skip
        assert {f["kind"] for f in answer["findings"]} == {"trusted_head_mismatch"}
    finally:
        assert stop_process(proc) == 0, proc.output()


def test_an_unreadable_heads_file_never_stops_the_platform(tmp_path: Path) -> None:
    path = tmp_path / "heads.json"
    path.write_text("not json")
    heads = SealHeads(path, "coop")
    heads.observe([{"stream": "audit", "seq": 1, "hash": H1}])
    assert trusted_heads(path) == [f"coop/audit:1:{H1}"]
