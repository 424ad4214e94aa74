"""Eligibility, bulk eligibility and module statistics at scale, on the embedded engine.

Generates ``--learners`` learners and ``--events`` learning events inside the engine
(``INSERT … SELECT … FROM numbers(N)`` into ``learning_events``, so the state's materialized view
builds ``learning_state`` and ``learning_learners`` as ingest would) in a temporary folder deleted
afterwards, and lets the engine settle by itself: it waits for the engine's own background merges to
end (at most ``--settle`` seconds; no merge is forced). Then, with the service running in this process (the
engine allows one process per folder) under uvicorn on a local port:

- with ``--seal``, the sealer's first round over the generated history, before any answer;
- one eligibility answer through the HTTP API (``GET /v1/eligibility/{learner}/{module}`` with a
  platform read token), p50/p99, while another thread ingests learning events through
  ``POST /v1/events`` at ``--ingest-rate`` events per second;
- bulk eligibility for the module over the largest organisation (``ccaudit.learning.bulk``), and
  module statistics by organisation over the whole set (``ccaudit.learning.stats``): each three
  times, the median kept;
- a granted answer's audit event kept in the service's spool (``ccaudit.service.own_trail``), what the
  answer waits for, against the same event inserted through the ingest pipeline, alternating;
- the ratio of one learner's state read from ``learning_state`` to the same answer computed from
  the raw ``learning_events``.

The last line:

    eligibility p99_ms=<x> bulk_s=<y> stats_s=<z>

The issue's figure is ``--learners 1000000 --events 100000000`` (organisations of 100k learners:
``--organisations 10``); the default is a small run that proves the script works. Never run by
``make test``.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from ccaudit.access import ApiTokenStore
from ccaudit.events import AuditEvent
from ccaudit.ids import new_id
from ccaudit.learning.bulk import eligible_learners
from ccaudit.learning.records import Catalogues
from ccaudit.learning.stats import StatsQuery, module_statistics
from ccaudit.service.app import create_app
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.client import open_client, query_rows
from ccaudit.store.learning import STATE_SELECT
from ccaudit.store.tokens import TokenStore
from tests.conftest import free_port

LESSONS = ["intro", "video", "practice", "quiz"]
CATALOGUE = {
    "version": 1,
    "modules": {
        "basics": {"lessons": [
            {"id": "intro"}, {"id": "video"}, {"id": "practice"}, {"id": "quiz", "move_on": "Passed"}]},
        "advanced": {
            "lessons": [{"id": "a1"}],
            "rule": {"kind": "all", "of": [
                {"kind": "module", "module": "basics"},
                {"kind": "any", "of": [{"kind": "profession", "any_of": ["teacher", "employee"]},
                                      {"kind": "score", "module": "basics", "lesson": "quiz", "min": 0.6}]}]},
        },
    },
}  # fmt: skip

# Per event: a learner, a lesson of "basics" and a verb; times spread over the last 300 days.
GENERATE = """
INSERT INTO {db}.learning_events
    (event_id, event_time, received_at, platform, verb, learner, organisation, module, lesson, registration,
     profession, progress, score, reason, duration_ms, request_id, retention_days, payload_sha256)
SELECT
    generateUUIDv4(number) AS event_id,
    now64(3) - toIntervalMillisecond(cityHash64(number, 1) % (300 * 86400000)) AS event_time,
    event_time AS received_at,
    'school',
    ['initialized', 'progressed', 'completed', 'passed', 'failed', 'terminated'][cityHash64(number, 2) % 6 + 1] AS verb,
    concat('learner-', toString(cityHash64(number, 3) % {learners})) AS learner,
    concat('org-', toString((cityHash64(number, 3) % {learners}) % {organisations})),
    'basics',
    if(verb IN ('passed', 'failed'), 'quiz', ['intro', 'video', 'practice'][cityHash64(number, 4) % 3 + 1]),
    'r-1',
    ['employee', 'student', 'teacher'][(cityHash64(number, 3) % {learners}) % 3 + 1],
    if(verb = 'progressed', toUInt8(cityHash64(number, 5) % 101), NULL),
    if(verb IN ('passed', 'failed'), (cityHash64(number, 6) % 2001) / 1000 - 1, NULL),
    '', NULL, '', 730, ''
FROM numbers({offset}, {n})
"""

# Merges running, or due: a table with two or more active parts older than its
# min_age_to_force_merge_seconds (read from its definition) is one the engine will merge by itself.
PENDING_MERGES = """
SELECT (SELECT count() FROM system.merges WHERE database = 'bench') + (
    SELECT countIf(old > 1) FROM (
        SELECT p.table, countIf(p.modification_time < now() - toInt64OrZero(
            extract(t.create_table_query, 'min_age_to_force_merge_seconds = (\\d+)'))) AS old
        FROM system.parts AS p INNER JOIN system.tables AS t ON t.database = p.database AND t.name = p.table
        WHERE p.database = 'bench' AND p.active AND t.create_table_query LIKE '%min_age_to_force_merge_seconds%'
        GROUP BY p.table))
"""


def grant_event() -> AuditEvent:
    """An audit event as the service writes one for an answer that grants access."""
    now_ms = int(time.time() * 1000)
    return AuditEvent(new_id(now_ms), now_ms, "org-0", "", "", "platform_read", False, "learner-1",
                      "learning.eligibility.granted", "", "module", "advanced", "", 0, "success", 0.0, "", "", "",
                      "", "", "", {"rule_version": "1", "principal": "platform_read:school"})  # fmt: skip


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def timed(run: Any, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learners", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--organisations", type=int, default=2)
    parser.add_argument("--answers", type=int, default=300)
    parser.add_argument("--seal", action="store_true", help="seal (the generated history first: small runs only)")
    parser.add_argument(
        "--ingest-rate", type=int, default=1000, help="learning events per second during answers (0: none)"
    )
    parser.add_argument("--settle", type=int, default=1200, help="seconds to wait at most for the engine's merges")
    parser.add_argument("--data", type=Path, help="keep the generated store in this folder, and reuse the one there "
                        "(generating 100M events takes about 35 min); by default a temporary folder")  # fmt: skip
    args = parser.parse_args()

    folder = args.data or Path(tempfile.mkdtemp(prefix="ccaudit-eligibility-"))
    try:
        store = Store(open_client(f"chdb://{folder / 'chdb'}"), "bench")
        store.migrate()
        start = time.perf_counter()
        stored = int(store.client.command("SELECT count() FROM bench.learning_events"))
        chunk = 10_000_000
        for offset in range(0, args.events if not stored else 0, chunk):
            n = min(chunk, args.events - offset)
            store.client.command(GENERATE.format(
                db="bench", learners=args.learners, organisations=args.organisations, offset=offset, n=n))  # fmt: skip
        if stored:
            print(f"reused {stored:,} events stored in {folder} by an earlier run (its --learners must match)")
        else:
            print(
                f"generated {args.events:,} events of {args.learners:,} learners in {time.perf_counter() - start:.1f} s"
            )
        # The engine merges the fresh parts in the background, as it would after any large load; a
        # service that has run for months is not in the middle of merging 100M fresh rows. Wait for
        # its merges to end by themselves (none is forced), at most --settle seconds: those running,
        # and those the state's tables are set to start once their parts are old enough (migration
        # 0045: two or more active parts older than that age are merged by the engine).
        start = time.perf_counter()
        while time.perf_counter() - start < args.settle and int(store.client.command(PENDING_MERGES)):
            time.sleep(5)
        print(f"waited {time.perf_counter() - start:.0f} s for the engine's own merges (at most {args.settle} s)")
        for table in ("learning_state", "learning_learners"):
            parts = store.client.command(
                f"SELECT count() FROM system.parts WHERE database = 'bench' AND table = '{table}' AND active"
            )
            print(f"{table}: {parts} active parts (the engine merges by itself; none forced)")

        # The data folder is the temporary one: the service keeps its own audit events in a spool there.
        # Sealing is off unless asked for: the generated history arrived "before" the service started,
        # so the sealer's first round would seal all of it at once (minutes at 100M rows), which a
        # service that sealed as the events arrived never does. What sealing costs ingest is
        # benchmarks/verify.py's measure.
        settings = Settings(database="bench", data_dir=folder, seal=args.seal)
        if "advanced" not in Catalogues(store).current().modules:  # not published by an earlier run
            Catalogues(store).publish(CATALOGUE, "benchmark")
        app = create_app(settings, store)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
        serving = threading.Thread(target=server.run, daemon=True)
        serving.start()
        url = f"http://127.0.0.1:{port}"
        while not server.started:
            time.sleep(0.05)
        if args.seal:
            start = time.perf_counter()
            app.state.sealing.sealer.seal_due()
            print(f"sealed the generated history in {time.perf_counter() - start:.1f} s")
        read_token, _ = ApiTokenStore(store.client, "bench").create_platform_read("school", ["eligibility:read"])
        ingest_token = TokenStore(store.client, "bench").create("school")[0]

        stop = threading.Event()
        ingested = [0]

        def ingest() -> None:
            # Ten batches a second, each what the rate asks for by now: a batch that took longer than
            # a tenth of a second is made up by the next, so the service takes the rate asked for.
            if args.ingest_rate <= 0:
                return  # answers alone, to see what ingesting meanwhile adds
            first = time.monotonic()
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ingest_token}"}) as client:
                while not stop.is_set():
                    began = time.monotonic()
                    due = int((began - first + 0.1) * args.ingest_rate) - ingested[0]
                    per_batch = min(max(1, due), args.ingest_rate)
                    now_ms = int(time.time() * 1000)
                    events = [{"stream": "learning", "event_id": new_id(now_ms), "event_time": now_ms,
                               "verb": "completed", "learner": f"learner-{random.randrange(args.learners)}",
                               "organisation": "org-0", "module": "basics", "lesson": random.choice(LESSONS[:3]),
                               "profession": "student"} for _ in range(per_batch)]  # fmt: skip
                    body = {"schema_version": 1, "batch_id": str(uuid.uuid4()), "platform": "school", "events": events}
                    if client.post("/v1/events", json=body, timeout=30).status_code == 200:
                        ingested[0] += per_batch
                    stop.wait(max(0.0, 0.1 - (time.monotonic() - began)))

        feeder = threading.Thread(target=ingest, daemon=True)
        began = time.monotonic()
        feeder.start()
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {read_token}"}) as client:

            def one() -> None:
                learner = f"learner-{random.randrange(args.learners)}"
                assert client.get(f"/v1/eligibility/{learner}/advanced", timeout=30).status_code == 200

            one()
            answers = timed(one, args.answers)
        stop.set()
        feeder.join()
        rate = ingested[0] / (time.monotonic() - began)
        p50, p99 = statistics.median(answers), percentile(answers, 0.99)
        print(f"eligibility over HTTP: p50 {p50:.1f} ms, p99 {p99:.1f} ms ({args.answers} answers, "
              f"ingesting {rate:.0f} learning events/s meanwhile)")  # fmt: skip

        # A granted answer's audit event, side by side: kept in the service's spool (what an answer
        # waits for) and inserted through the ingest pipeline (what it waited for before), alternating.
        trail = app.state.own_trail
        kept: list[float] = []
        inserted: list[float] = []
        for _ in range(max(10, args.answers // 3)):
            kept += timed(lambda: trail.record("school", [grant_event()]), 1)
            inserted += timed(lambda: trail.ingestor.ingest({"schema_version": 1, "batch_id": new_id(),
                "platform": "school", "events": [grant_event().to_wire()]}), 1)  # fmt: skip
        trail.force_flush(30)
        k50, k99, i50, i99 = statistics.median(kept), percentile(kept, 0.99), statistics.median(inserted), percentile(
            inserted, 0.99)  # fmt: skip
        print(f"a grant's audit event: kept in the spool p50 {k50:.2f} ms, p99 {k99:.2f} ms; inserted through the "
              f"pipeline p50 {i50:.1f} ms, p99 {i99:.1f} ms (inserted / kept = {i50 / k50:.0f}x at p50)")  # fmt: skip

        catalogue = Catalogues(store).current()
        now = datetime.now(UTC)
        # Three times each, the median kept: the engine merges the parts ingest just wrote in the
        # background, and a merge that runs meanwhile takes a core from one run and not the next.
        eligible: list[str] = []

        def bulk() -> None:
            eligible[:] = eligible_learners(store, catalogue, "school", "org-1", "advanced", now)

        bulks = timed(bulk, 3)
        bulk_s = statistics.median(bulks) / 1000
        each = ", ".join(f"{t / 1000:.2f}" for t in bulks)
        print(f"bulk eligibility, organisation org-1 (~{args.learners // args.organisations:,} learners): "
              f"{len(eligible):,} eligible in {bulk_s:.2f} s (median of {each})")  # fmt: skip
        stats: dict[str, Any] = {}

        def figures() -> None:
            stats.update(module_statistics(store, catalogue, StatsQuery("school", "basics", by="organisation")))

        runs = timed(figures, 3)
        stats_s = statistics.median(runs) / 1000
        each = ", ".join(f"{t / 1000:.2f}" for t in runs)
        print(f"module statistics by organisation over the whole set: {len(stats['groups'])} groups in "
              f"{stats_s:.2f} s (median of {each})")  # fmt: skip

        def from_state(learner: str) -> object:
            return query_rows(store.client, (
                f"SELECT {STATE_SELECT} FROM bench.learning_state WHERE platform = 'school' "
                "AND learner = {l:String} GROUP BY module, lesson"), {"l": learner})  # fmt: skip

        def from_raw(learner: str) -> object:
            return query_rows(store.client, (
                "SELECT module, lesson, min(event_time), max(event_time), count(), "
                "max(if(verb IN ('completed', 'passed'), 100, ifNull(progress, 0))), "
                "minIf(event_time, verb = 'completed'), "
                "minIf(event_time, verb = 'passed'), max(score), argMax(profession, (event_time, toString(event_id))) "
                "FROM bench.learning_events FINAL WHERE platform = 'school' AND learner = {l:String} "
                "GROUP BY module, lesson"), {"l": learner})  # fmt: skip

        learners = [f"learner-{random.randrange(args.learners)}" for _ in range(50)]
        state_ms = statistics.median([t for x in learners for t in timed(lambda x=x: from_state(x), 1)])
        raw_ms = statistics.median([t for x in learners for t in timed(lambda x=x: from_raw(x), 1)])
        print(f"one learner's state: {state_ms:.1f} ms from learning_state, {raw_ms:.1f} ms from raw events "
              f"(raw / state = {raw_ms / state_ms:.1f}x)")  # fmt: skip
        server.should_exit = True
        serving.join(30)  # the service's lifespan ends (its sealer and trail stop) before the folder goes
        print(f"eligibility p99_ms={p99:.1f} bulk_s={bulk_s:.2f} stats_s={stats_s:.2f}")
    finally:
        if args.data is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
