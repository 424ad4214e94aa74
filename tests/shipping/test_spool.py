"""The durable spool: put/claim/ack/retry/refusals, its bounds, leases, several processes on one
file, the upgrade of a spool of the earlier layout, and the recorder shipping from it through a
transport that fails in the ways the service can."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccaudit.shipping import spool as spool_module
from ccaudit.shipping.destination import Destination
from ccaudit.shipping.recorder import Recorder
from ccaudit.shipping.spool import ROW_EVENTS, Spool, SpooledBatch, split
from ccaudit.shipping.transport import DeliveryError
from tests.conftest import ROOT
from tests.shipping import spool_processes as processes
from tests.shipping.test_recorder import event


def pairs(*names: str) -> list[str]:
    """Events as the spool takes them: wire JSON (just an id and a request id here)."""
    return [json.dumps({"event_id": name, "request_id": name}) for name in names]


def ids(claimed: list[SpooledBatch]) -> list[str]:
    return [event_id for batch in claimed for event_id, _ in split(batch.body)]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """The spool's wall clock, moved by hand: ``clock.now += 61``."""
    fake = SimpleNamespace(now=1_800_000_000.0)
    monkeypatch.setattr(spool_module, "time", SimpleNamespace(time=lambda: fake.now))
    return fake


def test_put_claim_ack(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3")
    assert spool.put(pairs("a", "b", "c")) == 3
    assert spool.put(pairs("d")) == 1
    claimed = spool.claim(10, lease=60)
    assert ids(claimed) == ["a", "b", "c", "d"]  # oldest first
    assert [b.events for b in claimed] == [3, 1]  # one row per put
    assert [json.loads(e)["request_id"] for b in claimed for _, e in split(b.body)] == ["a", "b", "c", "d"]
    assert json.loads("[" + ",".join(b.items() for b in claimed) + "]")[3]["request_id"] == "d"
    assert spool.claim(10, lease=60) == []  # leased
    spool.ack([claimed[0].seq])
    status = spool.status()
    assert (status.depth, status.ready, status.dead_letters) == (1, 0, 0)


def test_a_claim_takes_whole_batches_up_to_its_limit_and_at_least_one(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3")
    spool.put(pairs("a", "b", "c"))
    spool.put(pairs("d", "e"))
    spool.put(pairs("f"))
    assert ids(spool.claim(2, 60)) == ["a", "b", "c"]  # one batch, even above the limit
    assert ids(spool.claim(3, 60)) == ["d", "e", "f"]


def test_a_large_put_is_split_into_rows_a_shipment_can_hold(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3")
    names = [f"e{n}" for n in range(ROW_EVENTS * 2 + 5)]
    assert spool.put(pairs(*names)) == len(names)
    claimed = spool.claim(ROW_EVENTS, 60)
    assert [b.events for b in claimed] == [ROW_EVENTS]
    assert ids(claimed) == names[:ROW_EVENTS]
    assert spool.status().depth == len(names)


def test_rows_are_bounded_in_bytes_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spool_module, "ROW_BYTES", 200)
    spool = Spool(tmp_path / "s.sqlite3")
    big = [json.dumps({"event_id": f"b{n}", "pad": "x" * 80}) for n in range(5)]  # ~100 bytes each
    assert spool.put(big) == 5
    claimed = spool.claim(100, 60)
    assert len(claimed) > 1
    assert all(len(b.body) <= 200 + 2 for b in claimed)  # the brackets
    assert ids(claimed) == [f"b{n}" for n in range(5)]
    huge = json.dumps({"event_id": "huge", "pad": "x" * 500})
    assert spool.put([huge]) == 1  # one event larger than a row still gets a row of its own
    assert ids(spool.claim(100, 60)) == ["huge"]


def test_retry_releases_after_the_delay_and_counts_attempts(tmp_path: Path, clock: SimpleNamespace) -> None:
    spool = Spool(tmp_path / "s.sqlite3")
    spool.put(pairs("a"))
    spool.put(pairs("b"))
    first = spool.claim(10, 60)
    spool.retry([b.seq for b in first], delay=5)
    assert spool.claim(10, 60) == []  # not before 5 s
    clock.now += 5
    again = spool.claim(10, 60)
    assert [(ids([b]), b.attempts) for b in again] == [(["a"], 1), (["b"], 1)]
    spool.retry([again[0].seq], delay=0)
    assert [(ids([b]), b.attempts) for b in spool.claim(10, 60)] == [(["a"], 2)]


def test_refused_events_are_dead_lettered_with_the_reason_and_their_batch_mates_kept(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3")
    spool.put(pairs("a", "b", "c"))
    spool.put(pairs("d", "e"))
    spool.put(pairs("f"))
    claimed = spool.claim(10, 60)
    # indexes in the shipment: a=0 b=1 c=2 d=3 e=4 f=5
    assert spool.refuse(claimed, {0: "status: bad", 2: "HTTP 413", 3: "outcome: bad", 4: "outcome: bad"}) == 4
    letters = spool.dead_letters()
    assert [(event_id, reason) for _, event_id, reason, _, _ in letters] == [
        ("a", "status: bad"), ("c", "HTTP 413"), ("d", "outcome: bad"), ("e", "outcome: bad"),
    ]  # fmt: skip
    assert json.loads(letters[0][4]) == {"event_id": "a", "request_id": "a"}
    assert ids(spool.claim(10, 60)) == ["b", "f"]  # ready again at once; d+e's batch is gone
    status = spool.status()
    assert (status.depth, status.dead_letters) == (2, 4)
    assert spool.requeue_dead_letters([letters[1][0]]) == 1
    assert ids(spool.claim(10, 60)) == ["c"]
    assert spool.requeue_dead_letters() == 3
    assert ids(spool.claim(10, 60)) == ["a", "d", "e"]
    assert spool.status().dead_letters == 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    puts=st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=6),
    limit=st.integers(min_value=1, max_value=12),
    refused=st.sets(st.integers(min_value=0, max_value=40)),
    rounds=st.integers(min_value=1, max_value=4),
)
def test_every_event_is_shipped_or_dead_lettered_exactly_once_whatever_the_refusals(
    tmp_path_factory: pytest.TempPathFactory, puts: list[int], limit: int, refused: set[int], rounds: int
) -> None:
    """Batches of any sizes, claims of any limit, the service refusing any indexes of a shipment for a
    few rounds: no event is lost, none is shipped twice, and a refused one is dead-lettered."""
    spool = Spool(tmp_path_factory.mktemp("prop") / "s.sqlite3")
    names = [f"e{n}" for n in range(sum(puts))]
    start = 0
    for size in puts:
        assert spool.put(pairs(*names[start : start + size])) == size
        start += size
    shipped: list[str] = []
    for round_ in range(rounds + 20):
        claimed = spool.claim(limit, 60)
        if not claimed:
            break
        shipment = ids(claimed)
        bad = {i: "no" for i in refused if i < len(shipment)} if round_ < rounds else {}
        if bad:
            assert spool.refuse(claimed, bad) == len(bad)
        else:
            shipped += shipment
            spool.ack(b.seq for b in claimed)
    dead = [event_id for _, event_id, _, _, _ in spool.dead_letters(1000)]
    assert sorted(shipped + dead) == sorted(names)  # each event once, shipped or dead
    assert spool.status().depth == 0


def test_a_full_spool_accepts_only_what_fits(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3", max_events=5)
    assert spool.put(pairs("a", "b", "c")) == 3
    assert spool.put(pairs("d", "e", "f", "g")) == 2
    assert spool.put(pairs("h")) == 0
    assert not spool.has_room()
    claimed = spool.claim(10, 60)
    assert ids(claimed) == ["a", "b", "c", "d", "e"]  # the first that fit
    spool.ack([claimed[0].seq])
    assert spool.has_room()
    assert spool.put(pairs("h", "i", "j", "k")) == 3


def test_age_bounds_move_old_events_to_dead_letters_and_delete_old_dead_letters(
    tmp_path: Path, clock: SimpleNamespace
) -> None:
    spool = Spool(tmp_path / "s.sqlite3", max_age=100, dead_max_age=1000)
    spool.put(pairs("old", "older"))
    clock.now += 60
    spool.put(pairs("young"))
    assert spool.enforce_age() == (0, 0)
    clock.now += 50  # "old" is 110 s old, "young" 50 s
    assert spool.enforce_age() == (2, 0)
    letters = spool.dead_letters()
    assert [event_id for _, event_id, _, _, _ in letters] == ["old", "older"]
    assert all("not delivered within 100s" in reason for _, _, reason, _, _ in letters)
    assert ids(spool.claim(10, 60)) == ["young"]
    clock.now += 999
    assert spool.enforce_age() == (1, 0)  # young is too old now; old's dead letters are 999 s old
    clock.now += 2
    assert spool.enforce_age() == (0, 2)
    assert [e[1] for e in spool.dead_letters()] == ["young"]


def test_a_spool_of_the_earlier_layout_is_moved_into_batches_and_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:  # ccaudit 0.1's layout: one event per row
        db.executescript(
            "CREATE TABLE spool (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE, "
            "body TEXT NOT NULL, enqueued_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, "
            "not_before REAL NOT NULL DEFAULT 0, lease_until REAL NOT NULL DEFAULT 0);"
        )
        names = [f"old-{n}" for n in range(ROW_EVENTS + 3)]
        db.executemany(
            "INSERT INTO spool (event_id, body, enqueued_at) VALUES (?, ?, ?)",
            [(name, body, 1000.0 + n) for n, (name, body) in enumerate(zip(names, pairs(*names), strict=True))],
        )
    spool = Spool(path)
    assert spool.status().depth == len(names)
    assert spool.status().oldest_age > 0
    assert ids(spool.claim(10 * ROW_EVENTS, 60)) == names  # in their order
    tables = {row[0] for row in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "spool" not in tables
    assert Spool(path).status().depth == len(names)  # opened again: nothing moved twice


def test_a_spool_of_the_previous_batch_layout_gets_its_sizes(tmp_path: Path) -> None:
    path = tmp_path / "batches.sqlite3"
    with sqlite3.connect(path) as db:  # the batch layout before the request path wrote to the spool
        db.executescript(
            "CREATE TABLE batches (seq INTEGER PRIMARY KEY AUTOINCREMENT, events INTEGER NOT NULL, "
            "enqueued_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, not_before REAL NOT NULL DEFAULT 0, "
            "lease_until REAL NOT NULL DEFAULT 0);"
            "CREATE TABLE bodies (seq INTEGER PRIMARY KEY, body TEXT NOT NULL);"
        )
        for n in range(3):
            body = "[" + ",".join(pairs(f"b{n}-0", f"b{n}-1")) + "]"
            seq = db.execute("INSERT INTO batches (events, enqueued_at) VALUES (2, ?)", (1000.0 + n,)).lastrowid
            db.execute("INSERT INTO bodies (seq, body) VALUES (?, ?)", (seq, body))
    spool = Spool(path)
    spool.append(pairs("fresh"))
    assert spool.status().depth == 7
    one_row = len("[" + ",".join(pairs("b0-0", "b0-1")) + "]")
    # The byte bound holds for the old rows too: their sizes were filled in when the file was opened.
    assert ids(spool.claim(100, 60, max_bytes=one_row + 1)) == ["b0-0", "b0-1"]
    assert ids(spool.claim(100, 60)) == ["b1-0", "b1-1", "b2-0", "b2-1", "fresh"]


def test_request_path_lines_are_folded_into_batches_in_order_once(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3")
    spool.put(pairs("a"))
    for name in ("b", "c", "d"):
        spool.append(pairs(name))
    assert spool.status().depth == 4
    assert spool.fold() == 3
    assert spool.fold() == 0
    claimed = spool.claim(100, 60)
    assert ids(claimed) == ["a", "b", "c", "d"]
    assert [b.events for b in claimed] == [1, 3]  # the three commits merged into one row


def test_a_claimed_row_is_not_claimable_until_its_lease_expires(tmp_path: Path, clock: SimpleNamespace) -> None:
    spool = Spool(tmp_path / "s.sqlite3")
    spool.put(pairs("a"))
    other = Spool(tmp_path / "s.sqlite3")  # another handle on the file, as another process has
    assert ids(spool.claim(10, lease=30)) == ["a"]
    clock.now += 29
    assert other.claim(10, lease=30) == []
    assert spool.status().ready == 0
    clock.now += 1
    assert [(ids([b]), b.attempts) for b in other.claim(10, lease=30)] == [(["a"], 0)]


def test_close_from_another_thread_than_the_ones_that_used_it(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3")
    worker = threading.Thread(target=lambda: spool.put(pairs("a")))
    worker.start()
    worker.join()
    spool.close()
    assert Spool(tmp_path / "s.sqlite3").status().depth == 1


# --- several processes on one file ---


def test_writers_and_claimers_in_several_processes_share_one_file(tmp_path: Path) -> None:
    # In a program of its own: see tests.shipping.spool_processes for why not in this process.
    args = [sys.executable, "-m", "tests.shipping.spool_processes", str(tmp_path)]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["exitcodes"] == [0] * (processes.CLAIMERS + processes.WRITERS)
    claimed = [event_id for part in result["claimed"] for event_id in part]
    expected = {"parent"} | {f"w{w}-{n}" for w in range(processes.WRITERS) for n in range(processes.PER_WRITER)}
    assert len(claimed) == len(expected)  # nothing claimed twice
    assert set(claimed) == expected  # nothing missed
    assert result["depth"] == 0


# --- the recorder shipping from the spool ---


class Scripted:
    """A transport standing in for the service: ``script(batch)`` raises to refuse a batch."""

    def __init__(self, script: Any) -> None:
        self.script = script
        self.sends: list[list[str]] = []
        self.delivered: list[str] = []

    def send(self, payload: bytes) -> None:
        ids = [e["request_id"] for e in json.loads(payload)["events"]]
        self.sends.append(ids)
        self.script(ids, len(self.sends))
        self.delivered += ids


class Waits(Destination):
    """The service's backoff state, recording each wait the schedule chose, to check it against what
    was asked."""

    def __init__(self) -> None:
        super().__init__(backoff_max=2.0)
        self.chosen: list[tuple[int, float | None, float]] = []

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        value = super().delay(failures, retry_after)
        self.chosen.append((failures, retry_after, value))
        return value


class WaitsRecorder(Recorder):
    """The real recorder, its destination recording waits from before its threads start."""

    def _init_state(self) -> None:
        super()._init_state()
        self.destination = Waits()


def _recorder(transport: Scripted, tmp_path: Path) -> tuple[Recorder, Spool]:
    spool = Spool(tmp_path / "r.sqlite3")
    recorder = WaitsRecorder(transport, platform="p", spool=spool, batch_size=100, flush_interval=60, backoff_max=2.0)
    return recorder, spool


def test_failures_are_retried_with_backoff_and_retry_after_is_honoured(tmp_path: Path) -> None:
    def script(ids: list[str], n: int) -> None:
        if n == 1:
            raise DeliveryError("HTTP 503", retryable=True, retry_after=0.3, status=503)
        if n in (2, 3):
            raise DeliveryError("cannot reach", retryable=True)

    transport = Scripted(script)
    recorder, spool = _recorder(transport, tmp_path)
    for n in range(10):
        recorder.emit(event(n))
    assert recorder.force_flush(15)
    recorder.shutdown(5)
    assert sorted(transport.delivered, key=int) == [str(n) for n in range(10)]  # once each
    assert transport.sends == [transport.delivered] * 4  # the same batch, resent
    assert recorder.stats()["retries"] == 3
    assert recorder.stats()["shipped"] == 10
    assert isinstance(recorder.destination, Waits)
    chosen = recorder.destination.chosen
    assert chosen[0] == (1, 0.3, 0.3)  # Retry-After, as asked (longer than the schedule's step)
    for failures, retry_after, value in chosen[1:]:  # exponential with jitter, within its bounds
        assert retry_after is None
        top = min(2.0, 0.1 * 2 ** (failures - 1))
        assert top / 2 <= value <= top
    assert [c[0] for c in chosen] == [1, 2, 3]
    assert spool.status().depth == 0


def test_events_the_service_refuses_are_dead_lettered_with_the_reason_and_the_rest_resent(tmp_path: Path) -> None:
    def script(ids: list[str], n: int) -> None:
        bad = [(i, f"audit.status: bad in {rid}") for i, rid in enumerate(ids) if rid in ("3", "7")]
        if bad:
            raise DeliveryError("HTTP 400", retryable=False, problems=bad, status=400)

    transport = Scripted(script)
    recorder, spool = _recorder(transport, tmp_path)
    for n in range(10):
        recorder.emit(event(n))
    assert recorder.force_flush(15)
    recorder.shutdown(5)
    assert sorted(transport.delivered, key=int) == [str(n) for n in range(10) if n not in (3, 7)]
    letters = spool.dead_letters()
    assert sorted((json.loads(body)["request_id"], reason) for _, _, reason, _, body in letters) == [
        ("3", "audit.status: bad in 3"),
        ("7", "audit.status: bad in 7"),
    ]
    assert recorder.stats()["dead_lettered"] == 2
    assert spool.status().depth == 0


def test_a_batch_refused_whole_with_413_is_dead_lettered(tmp_path: Path) -> None:
    def script(ids: list[str], n: int) -> None:
        if "big" in ids:
            raise DeliveryError("HTTP 413: body larger than 16777216 bytes", retryable=False, status=413)

    transport = Scripted(script)
    recorder, spool = _recorder(transport, tmp_path)
    first = [event(n)._replace(request_id="big" if n == 0 else f"a{n}") for n in range(4)]
    for e in first:
        recorder.emit(e)
    assert recorder.force_flush(15)
    recorder.emit(event(99))
    assert recorder.force_flush(15)
    recorder.shutdown(5)
    assert transport.delivered == ["99"]
    letters = spool.dead_letters()
    assert sorted(json.loads(body)["request_id"] for *_, body in letters) == ["a1", "a2", "a3", "big"]
    assert all("413" in reason for _, _, reason, _, _ in letters)
    assert len(transport.sends) == 2  # never retried
    assert spool.status().depth == 0


def test_a_process_hanging_with_the_spool_lock_does_not_stop_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another process takes the spool's file lock and never lets go (stopped, or stuck): this one's
    transactions wait for it at most the lock's bound, then go on with SQLite's own locking, and say so."""
    path = tmp_path / "spool.sqlite3"
    spool = Spool(path)
    spool._lock.wait_s = 0.2
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, time\n"
         f"fd = os.open({str(spool._lock.path)!r}, os.O_RDWR | os.O_CREAT)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"held\n"
        with caplog.at_level("WARNING", logger="ccaudit.spool"):
            spool.put(pairs("a", "b"))
            assert ids(spool.claim(10, lease=60)) == ["a", "b"]
        assert spool._lock.timeouts >= 2
        assert "held the spool lock" in caplog.text
    finally:
        holder.kill()
        holder.wait()
    # Once it is gone, the lock is taken again as usual.
    before = spool._lock.timeouts
    spool.put(pairs("c"))
    assert spool._lock.timeouts == before
    spool.close()
