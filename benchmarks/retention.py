"""The retention job and one subject's export at scale, on the embedded engine.

Generates ``--events`` audit events of ``--accounts`` accounts inside the engine (``INSERT … SELECT …
FROM numbers(N)``; the last-use view fills as it would at ingest) in a temporary folder deleted
afterwards. Each account's events lie within a few days of its own last use, spread over three years,
so about a third of the accounts are unused for more than the register's two years. The rows carry a
retention of 3000 days, so no TTL acts. Then it times one retention run (the accounts due, and the
rows it pseudonymised) and the export of one subject among all the accounts. The last line:

    retention run_s=<x> export_s=<y>

``--learning-events`` adds learning events of the same accounts (so the run erases learning events and
the learner's cells of the learning state too, and learning moves last use).

The default size runs in a minute or two on two cores; the issue's figure is
``python benchmarks/retention.py --events 10000000 --accounts 1000000``. Never run by ``make test``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from ccaudit.register import DEFAULT_REGISTER, SubjectIds
from ccaudit.rights import retention
from ccaudit.rights.export import READERS, export
from ccaudit.rights.subjects import find_subject
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.client import open_client

SPAN_DAYS = 1100

GENERATE = """
INSERT INTO {db}.audit_events
    (event_id, event_time, received_at, platform, organisation, actor_account_id, actor_profile_id, actor_role,
     admin_operation, subject_id, action, route, resource_type, resource_id, method, status, outcome, duration_ms,
     client_ip, user_agent, request_id, details, retention_days, payload_sha256)
SELECT
    generateUUIDv4(number) AS event_id,
    now64(3) - toIntervalSecond(cityHash64(number % {accounts}) % ({span} * 86400))
             - toIntervalSecond(cityHash64(number, 7) % (5 * 86400)) AS event_time,
    event_time AS received_at,
    'coop', concat('org-', toString(number % 50)),
    concat('acct-', toString(number % {accounts})),
    concat('prof-', toString(number % {accounts})),
    'member', false,
    concat('member:acct-', toString(cityHash64(number, 3) % {accounts})),
    ['person.update', 'person.view', 'login'][number % 3 + 1],
    '/x', 'person', toString(number % 1000), 'POST', 200, 'success', 3.5,
    IPv4NumToString(toUInt32(cityHash64(number, 4) % 4294967296)), 'Mozilla/5.0',
    concat('req-', toString(number)),
    map('email', concat('acct-', toString(number % {accounts}), '@example.org')),
    3000, ''
FROM numbers({n})
"""


# Learning events of the same accounts, within the same days of their last use: the learning state
# (an AggregatingMergeTree sorted by learner) and the last-use view fill as they would at ingest.
GENERATE_LEARNING = """
INSERT INTO {db}.learning_events
    (event_id, event_time, received_at, platform, verb, learner, organisation, module, lesson, registration,
     profession, progress, score, reason, duration_ms, request_id, retention_days, payload_sha256)
SELECT
    generateUUIDv4(number + 1) AS event_id,
    now64(3) - toIntervalSecond(cityHash64(number % {accounts}) % ({span} * 86400))
             - toIntervalSecond(cityHash64(number, 8) % (5 * 86400)) AS event_time,
    event_time AS received_at,
    'coop', ['initialized', 'progressed', 'completed', 'passed'][number % 4 + 1],
    concat('acct-', toString(number % {accounts})), concat('org-', toString(number % 50)),
    ['m1', 'm2', 'm3'][cityHash64(number, 9) % 3 + 1], concat('l', toString(number % 5)), '',
    ['teacher', 'student', 'employee'][number % 3 + 1], 50, 0.8, '', 1000.0, '', 3000, ''
FROM numbers({n})
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--accounts", type=int, default=50_000)
    parser.add_argument("--learning-events", type=int, default=0, help="learning events of the same accounts")
    args = parser.parse_args()
    audit = DEFAULT_REGISTER.default["audit"].model_copy(update={"retention_days": 3000})
    learning = DEFAULT_REGISTER.default["learning"].model_copy(update={"retention_days": 3000})
    # coop names its members in subject_id as member:<account id>: an export reaches those rows too.
    subjects = {"coop": SubjectIds(subject_ids=("member:{account_id}",))}
    settings = Settings(processing_register=DEFAULT_REGISTER.model_copy(
        update={"default": {**DEFAULT_REGISTER.default, "audit": audit, "learning": learning},
                "subjects": subjects}))  # fmt: skip
    folder = Path(tempfile.mkdtemp(prefix="ccaudit-retention-bench-"))
    try:
        store = Store(open_client(f"chdb://{folder / 'data'}"), "bench")
        store.migrate()
        print(f"generating {args.events:,} audit and {args.learning_events:,} learning events of {args.accounts:,} "
              "accounts in the engine ...", flush=True)  # fmt: skip
        start = time.perf_counter()
        sql = GENERATE.format(db=store.database, n=args.events, accounts=args.accounts, span=SPAN_DAYS)
        store.client.command(sql, settings={"max_insert_threads": 2})
        if args.learning_events:
            sql = GENERATE_LEARNING.format(db=store.database, n=args.learning_events, accounts=args.accounts,
                                           span=SPAN_DAYS)  # fmt: skip
            store.client.command(sql, settings={"max_insert_threads": 2})
        print(f"  {time.perf_counter() - start:.1f} s", flush=True)

        now = datetime.now(UTC)
        start = time.perf_counter()
        report = retention.run(store, settings, now)
        run_s = time.perf_counter() - start
        rows = sum(report.tables.values())
        print(
            f"retention run: {len(report.due):,} accounts due, {rows:,} rows touched {report.tables} in {run_s:.2f} s"
        )

        # Active accounts (whose last use is recent), each exported among all the others: the first
        # right after the run rewrote the parts (the figure), the next as a running service would;
        # each also with its tables read one after another (one reader), alternating, for the ratio.
        active = store.client.query(
            f"SELECT account_id FROM {store.database}.account_last_use WHERE platform = 'coop' GROUP BY account_id "
            "ORDER BY max(last_use) DESC LIMIT 4"
        ).result_rows
        times: dict[int, list[float]] = {READERS: [], 1: []}
        for n, (account,) in enumerate(active):
            for readers in (READERS, 1) if n % 2 == 0 else (1, READERS):
                start = time.perf_counter()
                subject = find_subject(store, settings.processing_register, [str(account)], platform="coop")
                document = export(store, settings.processing_register, subject, now, readers=readers)
                times[readers].append(time.perf_counter() - start)
                counted = {m["table"]: m["rows"] for m in document["manifest"] if m["rows"]}
                print(f"export of {account}, {readers} reader(s): {counted} in {times[readers][-1]:.3f} s")
        ratio = statistics.median(times[READERS]) / statistics.median(times[1])
        print(
            f"export median: {statistics.median(times[READERS]):.3f} s with {READERS} readers, "
            f"{statistics.median(times[1]):.3f} s with one (ratio {ratio:.2f})"
        )
        print(f"retention run_s={run_s:.2f} export_s={times[READERS][0]:.3f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
