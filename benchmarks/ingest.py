"""Audit events per second end to end, beside the engine's own insert rate, measured in one run.

  pipeline  a Recorder in this process with its durable spool (in a temp folder) and the HTTP
            transport (gzip, ingest token) → ``ccaudit serve`` in a child process on an embedded
            store in a temp folder: validate, enrich, insert. Timed from the first ``emit`` until
            the spool is empty, i.e. the service acknowledged (stored) every event.
  bare      clickhouse-connect inserting the same kind of rows (built by ingest's own column builder,
            outside the timing) in large batches into a table of the same schema (the same
            migrations), on an embedded store of its own, in a child process (one chDB folder per
            process, and no engine left running beside the service); the median of three rounds.

The service's per-token rate limit is lifted (CCAUDIT_INGEST_RATE) so that the run measures the
pipeline, not the limit. Prints both rates and ends with `ratio ingest=<pipeline rate / bare rate>`.
Goal: ≥ 0.5 on a 2-core machine.  Usage: python benchmarks/ingest.py [--events N] [--batch-size N]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ROUNDS = 3  # bare insert rounds; the median is reported

AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
]


def events(n: int) -> list:  # type: ignore[type-arg]
    """Audit events as capture builds them: admins editing records, a few browsers."""
    from ccaudit.events import AuditEvent
    from ccaudit.ids import new_id

    # A millisecond apart, ending now: the service refuses event times more than minutes ahead of it.
    first = time.time_ns() // 1_000_000 - n

    def one(i: int) -> AuditEvent:
        return AuditEvent(
            event_id=new_id(), event_time_ms=first + i, organisation=f"org-{i % 7}", actor_account_id=f"acct-{i % 50}",
            actor_profile_id=f"p-{i % 50}", actor_role="admin", admin_operation=True, subject_id=f"person:{i % 300}",
            action="http.POST", route="/admin/people/{person_id}", resource_type="person", resource_id=str(i % 300),
            method="POST", status=200, outcome="success", duration_ms=3.2, client_ip="192.0.2.7",
            peer_ip="192.0.2.7", user_agent=AGENTS[i % len(AGENTS)], request_id=f"req-{i}", trace_id="", span_id="",
            details={"fields": "email"},
        )  # fmt: skip

    return [one(i) for i in range(n)]


# --- bare: the engine's own rate (child process) ---


def bare(folder: Path, n: int, batch: int) -> float:
    from datetime import UTC, datetime

    from ccaudit.ingest import Ingestor
    from ccaudit.ingest.ledger import payload_digest
    from ccaudit.settings import Settings
    from ccaudit.store import Store
    from ccaudit.store.audit import insert_audit
    from ccaudit.store.client import open_client
    from ccaudit.wire import AuditEventIn, parse_events

    store = Store(open_client(f"chdb://{folder}"), "bench")
    store.migrate()
    ingestor = Ingestor(Settings(), store)
    parsed, problems = parse_events([e.to_wire() for e in events(n)])
    assert not problems
    audit = [e for e in parsed if isinstance(e, AuditEventIn)]
    now = datetime.now(UTC)

    digests = [payload_digest("bench", e) for e in audit]

    def columns(start: int, stop: int) -> list[Sequence[object]]:
        return ingestor.audit_columns(audit[start:stop], digests[start:stop], "bench", now)

    chunks = [columns(i, i + batch) for i in range(0, n, batch)]  # built outside the timing
    insert_audit(store.client, "bench", columns(0, 1000))  # warm-up
    rates = []
    for _ in range(ROUNDS):  # the median of a few rounds: one round swings by a third on a shared machine
        store.client.command("TRUNCATE TABLE bench.audit_events")
        start = time.perf_counter()
        for chunk in chunks:
            insert_audit(store.client, "bench", chunk)
        rates.append(n / (time.perf_counter() - start))
        stored = int(store.client.command("SELECT count() FROM bench.audit_events FINAL"))
        assert stored == n, stored
    return statistics.median(rates)


# --- pipeline: recorder → HTTP → service → embedded store ---


def _cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) used so far by this process, or by ``pid`` (Linux's /proc)."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pipeline(
    folder: Path, n: int, batch_size: int, env_extra: dict[str, str] | None = None
) -> tuple[float, dict[str, int], tuple[float, float]]:
    import httpx

    from ccaudit.shipping.recorder import Recorder
    from ccaudit.shipping.spool import Spool
    from ccaudit.shipping.transport import HttpTransport
    from tests.conftest import clean_env, free_port, start_process, stop_process

    port, admin = free_port(), secrets.token_urlsafe(16)
    env = clean_env(
        CCAUDIT_DATA_DIR=str(folder / "service"), CCAUDIT_PORT=str(port), CCAUDIT_ADMIN_TOKEN=admin,
        CCAUDIT_INGEST_RATE="100000", CCAUDIT_INGEST_BURST="100000",
    )  # fmt: skip
    env.update(env_extra or {})  # e.g. benchmarks/verify.py: the service with and without sealing
    url = f"http://127.0.0.1:{port}"
    service = start_process([sys.executable, "-m", "ccaudit", "serve"], env, url, folder / "service.log", "/health")
    try:
        made = httpx.post(url + "/v1/admin/tokens", json={"platform": "bench"},
                          headers={"Authorization": f"Bearer {admin}"}, timeout=30)  # fmt: skip
        token = made.json()["token"]
        warm = events(2000)
        todo = events(n)
        transport = HttpTransport(url, token=token, timeout=60)
        spool = Spool(folder / "spool.sqlite3")
        recorder = Recorder(
            transport, platform="bench", spool=spool, queue_size=n + len(warm), batch_size=batch_size,
            flush_interval=0.05,
        )  # fmt: skip
        for e in warm:
            recorder.emit(e)
        assert recorder.force_flush(60), "warm-up did not finish"
        start = time.perf_counter()
        cpu_here, cpu_service = _cpu_seconds(), _cpu_seconds(service.proc.pid)
        for e in todo:
            recorder.emit(e)
        assert recorder.force_flush(600), "the pipeline did not finish"
        elapsed = time.perf_counter() - start
        cpu = (_cpu_seconds() - cpu_here, _cpu_seconds(service.proc.pid) - cpu_service)
        stats = recorder.stats()
        recorder.shutdown(10)
        health = httpx.get(url + "/health", timeout=10).json()["ingest"]
        assert health["events"] == n + len(warm), health
    finally:
        stop_process(service)
    return n / elapsed, stats, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=500, help="the recorder's batch size (default: 500)")
    parser.add_argument("--insert-batch", type=int, default=50_000, help="rows per bare insert")
    parser.add_argument("--bare-only", metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_only:
        print(json.dumps({"rate": bare(Path(args.bare_only), args.events, args.insert_batch)}))
        return
    with tempfile.TemporaryDirectory(prefix="ccaudit-bench-ingest-") as tmp:
        folder = Path(tmp)
        child = [sys.executable, __file__, "--bare-only", str(folder / "bare"), "--events", str(args.events),
                 "--insert-batch", str(args.insert_batch)]  # fmt: skip
        done = subprocess.run(child, capture_output=True, text=True, timeout=600, check=True, cwd=ROOT)
        bare_rate = float(json.loads(done.stdout.strip().splitlines()[-1])["rate"])
        rate, stats, (cpu_platform, cpu_service) = pipeline(folder, args.events, args.batch_size)
    print(f"events: {args.events}; recorder batch size {args.batch_size}; bare insert batches of {args.insert_batch}")
    print(f"pipeline (recorder + spool → HTTP → service → embedded store): {rate:10,.0f} events/s")
    print(f"  recorder: spooled={stats['spooled']} shipped={stats['shipped']} retries={stats['retries']}")
    per_event = 1e6 / args.events
    print(f"  CPU per event: platform (recorder, spool, shipper) {cpu_platform * per_event:.1f} µs, "
          f"service (HTTP, validation, insert, engine) {cpu_service * per_event:.1f} µs")  # fmt: skip
    print(
        f"bare clickhouse-connect insert into the embedded engine:      {bare_rate:10,.0f} rows/s (median of {ROUNDS})"
    )
    print(f"ratio ingest={rate / bare_rate:.3f}")


if __name__ == "__main__":
    main()
