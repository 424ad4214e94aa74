"""Tamper evidence at scale: sealing and verifying audit events, and what sealing costs ingest.

  verify    ``--events`` audit events generated inside the engine (``INSERT … SELECT … FROM
            numbers(N)``, received over the last ``--hours``) on an embedded store in a temporary
            folder deleted afterwards; the sealer seals them period by period (its clock stepped
            through the periods, ``--period`` seconds each); then :func:`ccaudit.seal.verify.verify_store`
            recomputes every leaf in the engine, every root, the chain and the signatures. Rows
            verified per second = rows checked / the verification's wall time.
  ingest    benchmarks/ingest.py's pipeline (recorder + spool → HTTP → ``ccaudit serve``) twice,
            with ``CCAUDIT_SEAL=false`` and with sealing every 5 seconds (``CCAUDIT_SEAL_PERIOD=5``,
            no settle delay: 60 times as often as the default 300 s), in that order and then again
            reversed; each rate is the mean of its two runs. sealing_ratio = sealed rate / unsealed rate
            (goal ≥ 0.95). Beside it, the CPU time an event cost the service and the platform's
            process together, and their ratio: throughput on this shared machine moves by more
            than the goal's 5% between two runs of the same configuration, CPU per event by less.

The last line: ``verify rows_per_s=<x> sealing_ratio=<y>``. The issue's figure is
``python benchmarks/verify.py --events 10000000 --ingest-events 200000`` (ingest runs long enough
for many sealing rounds); the defaults run in a few minutes on two cores. Never run by ``make test``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEAL_PERIOD_S = 5  # the sealed ingest runs' period
sys.path.insert(0, str(ROOT))

GENERATE = """
INSERT INTO {db}.audit_events
    (event_id, event_time, received_at, platform, organisation, actor_account_id, actor_role, admin_operation,
     subject_id, action, route, resource_type, resource_id, method, status, outcome, duration_ms, client_ip,
     user_agent, request_id, details, retention_days, payload_sha256)
SELECT
    generateUUIDv4(number) AS event_id,
    fromUnixTimestamp64Milli(toInt64({start_ms} + intDiv(number * {span_ms}, {n})), 'UTC') AS event_time,
    event_time AS received_at,
    'bench',
    concat('org-', toString(cityHash64(number, 1) % 200)),
    concat('acct-', toString(cityHash64(number, 2) % 100000)),
    'admin', true,
    concat('subj-', toString(cityHash64(number, 3) % 200000)),
    ['person.update', 'person.view', 'module.create', 'loan.create'][number % 4 + 1],
    '/admin/people/{{person_id}}', 'person', toString(number % 1000), 'POST', 200, 'success', 12.5,
    IPv4NumToString(toUInt32(cityHash64(number, 4) % 4294967296)),
    'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
    concat('req-', toString(number)),
    map('fields', 'email'),
    730, ''
FROM numbers({n})
"""


class SteppedClock:
    """The sealer's clock, moved by hand through the generated periods."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def verify_rate(n: int, hours: float, period: float) -> tuple[float, float, int]:
    """(rows sealed per second, rows verified per second, seals) over ``n`` generated events."""
    from ccaudit.seal import keys
    from ccaudit.seal.sealer import Sealer
    from ccaudit.seal.store import SealStore
    from ccaudit.seal.verify import load_public_keys, verify_store
    from ccaudit.store import Store
    from ccaudit.store.client import open_client

    folder = Path(tempfile.mkdtemp(prefix="ccaudit-verify-bench-"))
    try:
        store = Store(open_client(f"chdb://{folder / 'data'}"), "bench")
        store.migrate()
        span_ms = int(hours * 3_600_000)
        now_ms = int(time.time() * 1000)
        start_ms = now_ms - span_ms
        print(f"generating {n:,} audit events in the engine, received over {hours:g} h ...", flush=True)
        began = time.perf_counter()
        store.client.command(GENERATE.format(db=store.database, n=n, span_ms=span_ms, start_ms=start_ms))
        print(f"  {time.perf_counter() - began:.1f} s", flush=True)
        key_file = folder / "keys" / "ed25519.pem"
        keys.ensure(key_file)
        seals = SealStore(store.client, store.database)
        clock = SteppedClock(start_ms / 1000)
        sealer = Sealer(seals, period_s=period, settle_s=0, folder=folder / "seals", key_file=key_file, clock=clock)
        began = time.perf_counter()
        while clock.now * 1000 < now_ms:
            clock.now += period
            sealer.seal_due()
        sealer.seal_due(final=True)
        seal_seconds = time.perf_counter() - began
        stored = list(seals.stored_seals("bench", "audit"))
        print(f"sealed {n:,} rows in {len(stored)} seals of bench/audit in {seal_seconds:.1f} s", flush=True)
        public = load_public_keys(keys.public_keys_file(key_file))
        began = time.perf_counter()
        report = verify_store(seals, folder / "seals", public, platform="bench", stream="audit",
                              now_ms=int(time.time() * 1000))  # fmt: skip
        verify_seconds = time.perf_counter() - began
        checked = report.counts.get("rows_checked", 0)
        assert report.ok, report.findings[:5]
        assert checked == n, (checked, n)
        print(f"verified {checked:,} rows and {report.counts['seals_checked']} seals in {verify_seconds:.1f} s: "
              "clean", flush=True)  # fmt: skip
        return n / seal_seconds, checked / verify_seconds, len(stored)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def ingest_rates(n: int, batch_size: int) -> tuple[dict[str, float], dict[str, float]]:
    """The unsealed and sealed ingest rates (events/s) and the CPU each event cost the service and this
    process together (µs), each the mean of two runs in ABBA order. CPU per event moves less with
    the machine's other load than throughput does."""
    from benchmarks.ingest import pipeline

    sealed_env = {"CCAUDIT_SEAL": "true", "CCAUDIT_SEAL_PERIOD": str(SEAL_PERIOD_S), "CCAUDIT_SEAL_SETTLE": "0"}
    plain_env = {"CCAUDIT_SEAL": "false"}
    rates: dict[str, list[float]] = {"plain": [], "sealed": []}
    cpus: dict[str, list[float]] = {"plain": [], "sealed": []}
    for name in ("plain", "sealed", "sealed", "plain"):
        with tempfile.TemporaryDirectory(prefix="ccaudit-verify-bench-ingest-") as tmp:
            rate, _, (cpu_here, cpu_service) = pipeline(
                Path(tmp), n, batch_size, plain_env if name == "plain" else sealed_env
            )
        rates[name].append(rate)
        cpus[name].append((cpu_here + cpu_service) / n * 1e6)
        print(f"  ingest {name:<6} {rate:10,.0f} events/s, {cpu_service / n * 1e6:5.1f} µs of service CPU and "
              f"{cpu_here / n * 1e6:5.1f} µs of the platform's per event", flush=True)  # fmt: skip
    return {k: sum(v) / 2 for k, v in rates.items()}, {k: sum(v) / 2 for k, v in cpus.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000, help="audit events to seal and verify")
    parser.add_argument("--hours", type=float, default=1.0, help="the events arrive over this many hours")
    parser.add_argument("--period", type=float, default=300.0, help="seconds per sealed period")
    parser.add_argument("--ingest-events", type=int, default=20_000, help="events per ingest run")
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()
    seal_rate, verify_rows, count = verify_rate(args.events, args.hours, args.period)
    print(
        f"ingest, {args.ingest_events:,} events per run, without and with a seal every {SEAL_PERIOD_S} s:", flush=True
    )
    rates, cpus = ingest_rates(args.ingest_events, args.batch_size)
    plain, sealed = rates["plain"], rates["sealed"]
    print(f"\nsealing: {seal_rate:12,.0f} rows/s ({count} seals)")
    print(f"verify:  {verify_rows:12,.0f} rows/s")
    print(f"ingest:  {plain:12,.0f} events/s without sealing, {sealed:,.0f} with")
    print(f"CPU:     {cpus['plain']:12.1f} µs per event without sealing, {cpus['sealed']:.1f} with "
          f"(ratio {cpus['plain'] / cpus['sealed']:.3f})")  # fmt: skip
    print(f"verify rows_per_s={verify_rows:.0f} sealing_ratio={sealed / plain:.3f}")


if __name__ == "__main__":
    main()
