"""Real processes for the fault scenarios: the service, the platform, a load of audited requests, and
the counts (through the read API, in the spool file, at the storage level).

Every wait here is bounded; a scenario that cannot make progress fails with the process's log.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ccaudit.events import expand
from tests.conftest import ROOT, Proc, Service, clean_env, free_port, gunicorn_args, start_process, stop_process

PLATFORM_APP = "tests.faults.app:app"
PREFORK_APP = "tests.faults.wsgi_app:app"


@dataclass
class Outcome:
    """What a scenario shows. ``sent``: audit events the platform acknowledged and the spool accepted;
    ``stored``: how many of them the read API shows; ``duplicates``: events shown more than once (by
    the read API or by FINAL at the storage level); ``lost``: sent but not stored."""

    name: str
    sent: int
    stored: int
    duplicates: int
    lost: int
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.sent > 0 and self.lost == 0 and self.duplicates == 0

    def line(self) -> str:
        head = f"fault {self.name}: sent={self.sent} stored={self.stored} duplicates={self.duplicates} lost={self.lost}"
        return head + (f"  ({'; '.join(self.notes)})" if self.notes else "")


# --- the service ---


class ServiceProcess:
    """``ccaudit serve`` on a data folder and port of its own; stop and start again on the same ones."""

    def __init__(self, folder: Path, **env: str) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.admin_token = secrets.token_urlsafe(16)
        self.env = clean_env(
            CCAUDIT_DATA_DIR=str(folder / "data"),
            CCAUDIT_PORT=str(self.port),
            CCAUDIT_ADMIN_TOKEN=self.admin_token,
            **env,
        )
        self.api: Service | None = None
        self._starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dsn(self) -> str:
        return self.env.get("CCAUDIT_DSN") or f"chdb://{(self.folder / 'data').resolve() / 'chdb'}"

    def start(self) -> Service:
        self._starts += 1
        log = self.folder / f"service-{self._starts}.log"
        proc = start_process([sys.executable, "-m", "ccaudit", "serve"], self.env, self.url, log, "/health")
        if self.api is None:
            self.api = Service(proc, self.admin_token)
        else:
            self.api.proc = proc
        return self.api

    def stop(self) -> None:
        assert self.api is not None
        code = stop_process(self.api.proc)
        assert code == 0, f"the service exited with {code}:\n{self.api.proc.output()}"

    def pause(self) -> None:
        assert self.api is not None
        self.api.proc.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.api is not None
        self.api.proc.proc.send_signal(signal.SIGCONT)

    def ingest_counters(self) -> dict[str, int]:
        counters: dict[str, int] = httpx.get(self.url + "/health", timeout=10).json()["ingest"]
        return counters


# --- the platform ---


class PlatformProcess:
    """The fault app under uvicorn, or with ``workers`` the pre-fork app under gunicorn (its workers
    share one spool), with its spool in ``folder``; SIGKILL it and start it again."""

    def __init__(self, folder: Path, service: ServiceProcess, platform: str, *, workers: int = 0, **env: str) -> None:
        assert service.api is not None
        self.workers = workers
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.platform = platform
        self.port = free_port()
        self.env = clean_env(
            CCAUDIT_PLATFORM=platform,
            CCAUDIT_SERVICE_URL=service.url,
            CCAUDIT_INGEST_TOKEN=service.api.ingest_token(platform),
            CCAUDIT_SPOOL_PATH=str(folder / f"spool-{platform}.sqlite3"),
            CCAUDIT_SPOOL_LEASE_SECONDS="2",
            **env,
        )
        self.proc: Proc | None = None
        self._starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def spool_path(self) -> Path:
        return self.folder / f"spool-{self.platform}.sqlite3"

    def start(self) -> None:
        self._starts += 1
        if self.workers:
            args = gunicorn_args(PREFORK_APP, self.port, workers=self.workers)
        else:
            args = [sys.executable, "-m", "uvicorn", PLATFORM_APP, "--no-proxy-headers", "--port", str(self.port)]
        self.proc = start_process(args, self.env, self.url, self.folder / f"platform-{self._starts}.log", "/health")

    def kill(self) -> int:
        """SIGKILL the platform, every process of it; returns how many processes were killed. A
        pre-fork master is stopped first, so that it cannot fork replacements meanwhile."""
        assert self.proc is not None
        master = self.proc.proc
        master.send_signal(signal.SIGSTOP)
        children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
        for pid in children:
            os.kill(int(pid), signal.SIGKILL)
        master.kill()
        master.wait(20)
        for pid in children:
            deadline = time.monotonic() + 20
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        return 1 + len(children)

    def stop(self) -> None:
        assert self.proc is not None
        code = stop_process(self.proc)
        # uvicorn's own CLI re-raises SIGTERM after a graceful shutdown.
        assert code in (0, -15), f"the platform exited with {code}:\n{self.proc.output()}"


def _alive(pid: str) -> bool:
    """Whether a process still runs: not gone, and not a zombie waiting to be reaped by whoever adopted it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


class Load:
    """Threads posting audited admin requests, each with a unique X-Request-ID, until stopped.

    ``acked`` holds the request ids the platform answered with a 2xx, in order; ``refused`` counts the
    other answers by status, ``errors`` the requests that got no answer (connection refused or reset).
    """

    def __init__(self, url: str, prefix: str, threads: int = 2, pause: float = 0.01) -> None:
        self.url = url + "/admin/items"
        self.prefix = prefix
        self.pause = pause
        self.acked: list[str] = []
        self.refused: Counter[int] = Counter()
        self.errors = 0
        self._ids = itertools.count()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
        assert not any(t.is_alive() for t in self._threads), "load threads did not stop"

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                request_id = f"{self.prefix}-{next(self._ids)}"
                try:
                    response = client.post(self.url, headers={"X-Request-ID": request_id}, content=b"x")
                except httpx.TransportError:
                    self.errors += 1
                    self._stop.wait(0.05)
                    continue
                if 200 <= response.status_code < 300:
                    self.acked.append(request_id)
                else:
                    self.refused[response.status_code] += 1
                self._stop.wait(self.pause)

    def answered(self) -> str:
        """Fail if the platform answered any request with a non-2xx status: no scenario makes a route
        strict or fail-closed, so a refusal means the capture broke the request. Returns a note with
        the requests that got no answer (expected only while the platform is down)."""
        assert not self.refused, f"the platform refused requests: {dict(self.refused)}"
        return f"requests without an answer={self.errors}"

    def run_for(self, seconds: float) -> int:
        """Let the load run ``seconds``; how many requests were acknowledged meanwhile."""
        before = len(self.acked)
        time.sleep(seconds)
        return len(self.acked) - before


# --- counting ---


def stored_request_ids(service: Service, platform: str) -> Counter[str]:
    """Every audit event of ``platform`` the read API shows (it reads with FINAL), by request id."""
    found: Counter[str] = Counter()
    params: dict[str, str] = {"platform": platform, "limit": "1000"}
    for _ in range(10_000):
        response = httpx.get(
            service.url + "/v1/audit/events", params=params, headers={"Authorization": f"Bearer {service.reader}"},
            timeout=30,
        )  # fmt: skip
        assert response.status_code == 200, response.text
        body = response.json()
        found.update(e["request_id"] for e in body["events"])
        if not body["next_cursor"]:
            return found
        params["cursor"] = body["next_cursor"]
    raise AssertionError("the read API kept returning pages")


def wait_stored(service: Service, platform: str, expected: set[str], timeout: float) -> Counter[str]:
    """Poll the read API until every expected request id is there, or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        found = stored_request_ids(service, platform)
        if expected <= set(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def storage_counts(dsn: str, platform: str) -> dict[str, int]:
    """Rows with and without FINAL, counted by a separate process (see ``tests.faults.storage``)."""
    args = [sys.executable, "-m", "tests.faults.storage", dsn, platform]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    counts: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return counts


def spooled_events(spool: Path) -> list[dict[str, Any]]:
    """The events in a spool, read with SQLite and plain file reads alone: written on the request path
    and not yet folded (the journals' complete lines past what the spool notes as folded), waiting to
    ship (batches), or dead-lettered."""
    db = sqlite3.connect(spool, timeout=10, isolation_level=None)
    try:
        # One read transaction: a fold commits its batch and its journal offset together, so reading
        # them in two snapshots could list a folded line twice (or not at all).
        db.execute("BEGIN")
        folded = dict(db.execute("SELECT name, folded FROM journals").fetchall())
        batches = [json.loads(r[0]) for r in db.execute("SELECT body FROM bodies")]  # JSON arrays
        dead = [json.loads(r[0]) for r in db.execute("SELECT body FROM dead_letters")]  # one event each
        # The journals are read inside the snapshot: a journal is deleted only once folded to its end
        # and its writer is gone, which the live writers of a test are not.
        fresh = []
        for journal in sorted(spool.with_name(spool.name + ".journal").glob("*.log")):
            data = journal.read_bytes()[folded.get(journal.name, 0) :]
            complete = data[: data.rfind(b"\n") + 1]
            arrays = [line.split(b"\t", 2)[2] for line in complete.splitlines()]  # count, time, array
            # The request path's lines hold events in the compact form (marked "c"): the product expands them.
            fresh += [[expand(e) for e in json.loads(a[1:])] if a[:1] == b"c" else json.loads(a) for a in arrays]
        db.execute("COMMIT")
    finally:
        db.close()
    # Oldest first: folded batches hold what was written before the journals' unfolded lines.
    return [*(e for rows in (batches, fresh) for b in rows for e in b), *dead]


def spooled_request_ids(spool: Path) -> set[str]:
    """Request ids of the events in a spool file (see ``spooled_events``)."""
    return {event["request_id"] for event in spooled_events(spool)}


def tally(name: str, sent: set[str], found: Counter[str], storage: dict[str, int], notes: list[str]) -> Outcome:
    """The outcome line: ``sent`` against what the read API shows, and FINAL at the storage level."""
    stored = len(sent & set(found))
    api_duplicates = sum(n - 1 for n in found.values() if n > 1)
    duplicates = max(api_duplicates, storage["final_duplicates"], storage["final"] - len(found.keys()))
    notes = [*notes, f"storage rows={storage['rows']} final={storage['final']}"]
    extra = set(found) - sent
    if extra:
        notes.append(f"stored but never acknowledged={len(extra)}")
    return Outcome(name, len(sent), stored, duplicates, len(sent - set(found)), notes)
