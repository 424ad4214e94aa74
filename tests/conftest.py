"""Shared fixtures.

The embedded engine opens one data folder per process for the life of the process, so this test
process has one engine (``chdb_client``) and isolates tests by database name. Services and kits run
as real child processes with their own folders, talking real HTTP.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from clickhouse_connect.driver.client import Client
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from ccaudit.events import AuditEvent
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.client import open_client

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a child process: no CCAUDIT_* from outside, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCAUDIT_")}
    env.update(extra)
    return env


def days_ago_ms(days: int) -> int:
    """Epoch milliseconds ``days`` whole days before now, on a whole second: tests date their events
    relative to today, so that no retention TTL (the engine's real clock) ever finds them expired."""
    return (int(time.time()) - days * 86_400) * 1000


def iso_ms(epoch_ms: int) -> str:
    """How the store's read API writes an event time: ISO 8601, milliseconds, ``Z``."""
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def wait_until(check: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


@pytest.fixture(scope="session", autouse=True)
def state_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The default spool folder ($XDG_STATE_HOME/ccaudit) of this process and its children: a
    temporary one, so that no test writes a spool into the user's home."""
    folder = tmp_path_factory.mktemp("state")
    before = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(folder)
    yield folder
    if before is None:
        del os.environ["XDG_STATE_HOME"]
    else:
        os.environ["XDG_STATE_HOME"] = before


@pytest.fixture(scope="session")
def chdb_client(tmp_path_factory: pytest.TempPathFactory) -> Client:
    return open_client(f"chdb://{tmp_path_factory.mktemp('chdb') / 'data'}")


@pytest.fixture
def store(chdb_client: Client) -> Iterator[Store]:
    """A freshly migrated store in a database of its own, dropped after the test: a store's
    refreshable views (the dashboards' closers) would otherwise keep running in this process for
    the rest of the session, every store's every 5 minutes."""
    s = Store(chdb_client, f"t_{uuid.uuid4().hex[:12]}")
    s.migrate()
    yield s
    chdb_client.command(f"DROP DATABASE IF EXISTS {s.database} SYNC")


@dataclass
class MemorySink:
    """Collects events in memory: the tests' stand-in for the recorder, to inspect what capture built."""

    events: list[AuditEvent] = field(default_factory=list)

    def emit(self, event: AuditEvent) -> None:
        self.events.append(event)


@dataclass
class Proc:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_process(args: list[str], env: dict[str, str], url: str, log: Path, ready_path: str = "/") -> Proc:
    handle = log.open("wb")
    proc = subprocess.Popen(args, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{args} exited with {proc.returncode}:\n{log.read_text()}")
        try:
            httpx.get(url + ready_path, timeout=1)
            return Proc(proc, url, log)
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"{args} did not answer within 60s:\n{log.read_text()}")


def stop_process(p: Proc) -> int:
    if p.proc.poll() is None:
        p.proc.send_signal(signal.SIGTERM)
        try:
            p.proc.wait(20)
        except subprocess.TimeoutExpired:
            p.proc.kill()
            p.proc.wait()
    return p.proc.returncode


@dataclass
class Service:
    proc: Proc
    token: str  # the admin token: the bootstrap credential, which makes accounts and tokens and reads nothing
    ingest_tokens: dict[str, str] = field(default_factory=dict)
    read_tokens: dict[str, str] = field(default_factory=dict)

    def personal_token(self, role: str = "auditor", organisations: tuple[str, ...] = ()) -> str:
        """A personal API token of an account with ``role`` (made once, through the API as people do:
        the bootstrap credential makes the account, its password gets the token)."""
        key = f"{role}:{','.join(organisations)}"
        if key not in self.read_tokens:
            username, password = f"{role}-{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(16)
            made = httpx.post(
                self.url + "/v1/admin/accounts",
                json={"username": username, "role": role, "organisations": list(organisations), "password": password},
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=10,
            )
            assert made.status_code == 201, made.text
            issued = httpx.post(self.url + "/v1/me/tokens", json={}, auth=(username, password), timeout=30)
            assert issued.status_code == 201, issued.text
            self.read_tokens[key] = issued.json()["token"]
        return self.read_tokens[key]

    @property
    def reader(self) -> str:
        """An auditor's personal token: it reads the audit trail and usage."""
        return self.personal_token("auditor")

    def ingest_token(self, platform: str = "coop") -> str:
        """An ingest token for ``platform``, made through the admin API on first use."""
        if platform not in self.ingest_tokens:
            response = httpx.post(
                self.url + "/v1/admin/tokens",
                json={"platform": platform},
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=10,
            )
            assert response.status_code == 201, response.text
            self.ingest_tokens[platform] = response.json()["token"]
        return self.ingest_tokens[platform]

    def post_batch(self, batch: dict[str, Any], platform: str = "coop") -> httpx.Response:
        return httpx.post(
            self.url + "/v1/events",
            json=batch,
            headers={"Authorization": f"Bearer {self.ingest_token(platform)}"},
            timeout=10,
        )

    @property
    def url(self) -> str:
        return self.proc.url

    def events(self, **params: Any) -> list[dict[str, Any]]:
        response = httpx.get(
            self.url + "/v1/audit/events",
            params=params,
            headers={"Authorization": f"Bearer {self.reader}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        events: list[dict[str, Any]] = response.json()["events"]
        return events

    def usage_summary(self, **params: Any) -> dict[str, Any]:
        response = httpx.get(
            self.url + "/v1/usage/summary",
            params=params,
            headers={"Authorization": f"Bearer {self.reader}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        summary: dict[str, Any] = response.json()
        return summary

    def consent_history(self, consent_id: str) -> list[dict[str, Any]]:
        """The receipts stored for ``consent_id``, oldest first; none (a 404) until the first arrives."""
        response = httpx.get(
            f"{self.url}/v1/consent/{consent_id}",
            headers={"Authorization": f"Bearer {self.personal_token('dpo')}"},
            timeout=10,
        )
        if response.status_code == 404:
            return []
        assert response.status_code == 200, response.text
        receipts: list[dict[str, Any]] = response.json()["receipts"]
        return receipts


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A real ``ccaudit serve`` process on its own embedded store."""
    folder = tmp_path_factory.mktemp("service")
    port = free_port()
    token = secrets.token_urlsafe(16)
    env = clean_env(
        CCAUDIT_DATA_DIR=str(folder / "data"),
        CCAUDIT_PORT=str(port),
        CCAUDIT_ADMIN_TOKEN=token,
    )
    proc = start_process(
        [sys.executable, "-m", "ccaudit", "serve"], env, f"http://127.0.0.1:{port}", folder / "log", "/health"
    )
    yield Service(proc, token)
    assert stop_process(proc) == 0, proc.output()


@pytest.fixture(scope="session")
def kit(service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    """The Starlette kit under uvicorn, shipping to ``service`` over HTTP."""
    folder = tmp_path_factory.mktemp("kit")
    port = free_port()
    env = clean_env(
        CCAUDIT_SERVICE_URL=service.url,
        CCAUDIT_FLUSH_INTERVAL="0.05",
        CCAUDIT_SPOOL_PATH=str(folder / "spool.sqlite3"),
        CCAUDIT_INGEST_TOKEN=service.ingest_token("coop"),
    )
    # --no-proxy-headers: uvicorn would otherwise rewrite the peer from X-Forwarded-For itself.
    args = [
        sys.executable,
        "-m",
        "uvicorn",
        "middleware.starlette_kit.app:app",
        "--no-proxy-headers",
        "--port",
        str(port),
    ]
    proc = start_process(args, env, f"http://127.0.0.1:{port}", folder / "log")
    yield proc
    # uvicorn's own CLI re-raises SIGTERM after a graceful shutdown.
    assert stop_process(proc) in (0, -signal.SIGTERM), proc.output()


def gunicorn_args(app: str, port: int, *, workers: int = 2, preload: bool = True) -> list[str]:
    """A real pre-fork server: gunicorn with sync workers (``--preload``: the app is imported once, in the
    master, and the workers are forked from it)."""
    args = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    return [*args, "--graceful-timeout", "10", *(["--preload"] if preload else []), app]


def _wsgi_kit(
    app: str, platform: str, service: Service, tmp_path_factory: pytest.TempPathFactory, name: str
) -> Iterator[Proc]:
    folder = tmp_path_factory.mktemp(name)
    port = free_port()
    env = clean_env(
        CCAUDIT_SERVICE_URL=service.url,
        CCAUDIT_FLUSH_INTERVAL="0.05",
        CCAUDIT_SPOOL_PATH=str(folder / "spool.sqlite3"),
        CCAUDIT_INGEST_TOKEN=service.ingest_token(platform),
    )
    proc = start_process(gunicorn_args(app, port), env, f"http://127.0.0.1:{port}", folder / "log")
    yield proc
    assert stop_process(proc) == 0, proc.output()


@pytest.fixture(scope="session")
def flask_kit(service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    """The Flask kit under gunicorn (two workers, --preload), shipping to ``service`` over HTTP."""
    yield from _wsgi_kit("middleware.flask_kit.app:app", "learning", service, tmp_path_factory, "flask_kit")


@pytest.fixture(scope="session")
def django_kit(service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    """The Django kit under gunicorn (two workers, --preload), shipping to ``service`` over HTTP."""
    yield from _wsgi_kit("middleware.django_kit.wsgi", "library", service, tmp_path_factory, "django_kit")


@pytest.fixture(scope="session")
def metric_reader() -> InMemoryMetricReader:
    """The process-wide OpenTelemetry meter provider for tests (it can be set only once)."""
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    return reader


def metric_points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    """Data points by metric name, from one collection."""
    points: dict[str, list[Any]] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                points.setdefault(metric.name, []).extend(metric.data.data_points)
    return points


def personal_headers(store: Store, role: str, organisations: tuple[str, ...] = ()) -> dict[str, str]:
    """The Authorization header of a personal token of a new account with ``role``, made in ``store``."""
    from ccaudit.access import AccountStore, ApiTokenStore, Role
    from ccaudit.access.roles import ROLE_PERMISSIONS

    account = AccountStore(store.client, store.database).create(
        f"{role}-{uuid.uuid4().hex[:8]}", role, organisations, secrets.token_urlsafe(16)
    )
    token, _ = ApiTokenStore(store.client, store.database).create_personal(
        account.account_id, ROLE_PERMISSIONS[Role(role)]
    )
    return {"Authorization": f"Bearer {token}"}


def settings_for_tests(**overrides: Any) -> Settings:
    base: dict[str, Any] = {"platform": "test", "flush_interval": 0.05}
    base.update(overrides)
    return Settings(**base)
