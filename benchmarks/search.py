"""Searching and exporting the audit trail at scale, through ccaudit.search, on the embedded engine.

Generates ``--events`` audit events inside the engine (``INSERT … SELECT … FROM numbers(N)``) in a
temporary folder deleted afterwards, lets the engine settle by itself (no forced merges: the state a
deployment is in), prints the size on disk of the tables keyed searches read (audit_by_person,
audit_keys) against audit_events', then measures p50/p95 of searches by actor, subject, request id,
organisation + day, CIDR and free text through :func:`ccaudit.search.search` (each one recorded in
the access stream, as in the service), each beside the same search written so that no index or key
can help (a full scan) and a `SELECT 1` (the floor of any query here), and the resident memory an
export of ``--export-rows`` rows adds above the idle process (the engine runs in this process, as in
the service). The last line:

    search keyed_p95_ms=<x> export_peak_mb=<y>

keyed_p95_ms is the worst p95 of the keyed searches (actor, subject, request id). The default size
runs in a few minutes on two cores; the issue's figure is ``--events 100000000 --export-rows 10000000``.
Never run by ``make test``.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ccaudit.access.principal import account_principal
from ccaudit.access.roles import Role
from ccaudit.search import Filters, open_export, search
from ccaudit.store import Store
from ccaudit.store.client import open_client

ACTORS = 100_000
SUBJECTS = 200_000
ORGANISATIONS = 200
DAYS = 60

GENERATE = """
INSERT INTO {db}.audit_events
    (event_id, event_time, received_at, platform, organisation, actor_account_id, actor_role, admin_operation,
     subject_id, action, route, resource_type, resource_id, method, status, outcome, duration_ms, client_ip,
     request_id, trace_id, details, retention_days, payload_sha256)
SELECT
    generateUUIDv4(number) AS event_id,
    now64(3) - toIntervalMillisecond(intDiv(number * {span_ms}, {n})) AS event_time,
    event_time AS received_at,
    ['coop', 'learning', 'library'][number % 3 + 1],
    concat('org-', toString(cityHash64(number, 1) % {orgs})),
    concat('acct-', toString(cityHash64(number, 2) % {actors})),
    'admin', true,
    concat('subj-', toString(cityHash64(number, 3) % {subjects})),
    ['person.update', 'person.view', 'module.create', 'loan.create'][number % 4 + 1],
    '/admin/x', 'person', toString(number % 1000), 'POST', 200, 'success', 12.5,
    IPv4NumToString(toUInt32(cityHash64(number, 4) % 4294967296)),
    concat('req-', toString(number)),
    lower(hex(cityHash64(number, 5))),
    map('note', concat('note ', toString(cityHash64(number, 6) % 1000003))),
    730, ''
FROM numbers({n})
"""


def timed(run: Callable[[], object], repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--export-rows", type=int, default=None, help="default: every event, at most 1,000,000")
    parser.add_argument("--repeat", type=int, default=15, help="searches per kind")
    args = parser.parse_args()
    n = args.events
    folder = Path(tempfile.mkdtemp(prefix="ccaudit-search-bench-"))
    try:
        store = Store(open_client(f"chdb://{folder / 'data'}"), "bench")
        store.migrate()
        print(f"generating {n:,} audit events in the engine ...", flush=True)
        start = time.perf_counter()
        store.client.command(GENERATE.format(db=store.database, n=n, span_ms=DAYS * 86_400_000, orgs=ORGANISATIONS,
                                             actors=ACTORS, subjects=SUBJECTS))  # fmt: skip
        print(f"  {time.perf_counter() - start:.1f} s; no merge is forced: the engine settles by itself", flush=True)
        time.sleep(5)
        parts = store.client.command(
            "SELECT count() FROM system.parts WHERE database = {db:String} AND table = 'audit_events' AND active",
            parameters={"db": store.database},
        )
        print(f"  active parts of audit_events: {parts}")
        sizes = dict(store.client.query(
            "SELECT table, sum(bytes_on_disk) FROM system.parts WHERE database = {db:String} AND active "
            "AND table IN ('audit_events', 'audit_by_person', 'audit_keys') GROUP BY table",
            parameters={"db": store.database},
        ).result_rows)  # fmt: skip
        events_bytes = max(1, int(sizes.get("audit_events", 0)))
        for table in ("audit_events", "audit_by_person", "audit_keys"):
            size = int(sizes.get(table, 0))
            print(f"  {table:<16} {size / 2**20:>9.1f} MiB on disk, {size / events_bytes:.2f} of audit_events")
        principal = account_principal("bench-auditor", Role.AUDITOR, frozenset())
        rng = random.Random(7)
        day = (datetime.now(UTC) - timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)

        def keyed(make: Callable[[], Filters]) -> Callable[[], object]:
            return lambda: search(store, principal, make(), limit=100, route="benchmark")

        kinds: dict[str, Callable[[], Filters]] = {
            "actor": lambda: Filters(actor=f"acct-{rng.randrange(ACTORS)}"),
            "subject": lambda: Filters(subject=f"subj-{rng.randrange(SUBJECTS)}"),
            "request id": lambda: Filters(request_id=f"req-{rng.randrange(n)}"),
            "organisation + day": lambda: Filters(
                organisation=f"org-{rng.randrange(ORGANISATIONS)}", since=day, until=day + timedelta(days=1)
            ),
            "CIDR": lambda: Filters(cidr=f"{rng.randrange(256)}.{rng.randrange(256)}.0.0/16"),
            "free text": lambda: Filters(text=(f"note {rng.randrange(1_000_003)}",)),
        }
        # The same question with nothing to help it: a function of the column defeats keys and indexes.
        scan_sql = (
            f"SELECT * FROM {store.database}.audit_events FINAL WHERE concat(actor_account_id, '') = {{a:String}} "
            "ORDER BY event_time DESC, event_id DESC LIMIT 101"
        )
        scan_p50, scan_p95 = timed(
            lambda: store.client.query(scan_sql, parameters={"a": f"acct-{rng.randrange(ACTORS)}"}),
            max(3, args.repeat // 3),
        )
        # The floor: what any query costs through the client on this machine now.
        floor_p50, floor_p95 = timed(lambda: store.client.query("SELECT 1"), args.repeat)
        print(f"\n{'search by':<20} {'p50 ms':>9} {'p95 ms':>9} {'p50 / full scan':>16}")
        print(f"{'(SELECT 1)':<20} {floor_p50:>9.1f} {floor_p95:>9.1f} {floor_p50 / scan_p50:>16.3f}")
        print(f"{'full scan (actor)':<20} {scan_p50:>9.1f} {scan_p95:>9.1f} {1.0:>16.3f}")
        keyed_p95 = 0.0
        for name, make in kinds.items():
            p50, p95 = timed(keyed(make), args.repeat)
            if name in ("actor", "subject", "request id"):
                keyed_p95 = max(keyed_p95, p95)
            print(f"{name:<20} {p50:>9.1f} {p95:>9.1f} {p50 / scan_p50:>16.3f}", flush=True)

        export_rows = args.export_rows or min(n, 1_000_000)
        since = datetime.now(UTC) - timedelta(milliseconds=DAYS * 86_400_000 * export_rows / n) - timedelta(seconds=1)
        idle = rss_mb()
        peak = [idle]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], rss_mb())
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.perf_counter()
        export = open_export(store, principal, Filters(since=since), "csv", route="benchmark")
        size = sum(len(chunk) for chunk in export.chunks())
        done.set()
        sampler.join()
        seconds = time.perf_counter() - start
        print(f"\nexport: {export.rows[0]:,} rows, {size / 2**20:.0f} MiB of CSV in {seconds:.1f} s; "
              f"resident memory idle {idle:.0f} MB, peak {peak[0]:.0f} MB")  # fmt: skip
        print(f"search keyed_p95_ms={keyed_p95:.1f} export_peak_mb={peak[0] - idle:.1f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
