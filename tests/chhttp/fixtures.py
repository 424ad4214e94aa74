"""The ClickHouse HTTP test server as a child process, and pytest fixtures around it.

Tests in ``tests/chhttp`` get the fixtures from its conftest. Elsewhere, import them into that
package's conftest (pytest finds fixtures by name in the conftest's namespace):

    from tests.chhttp.fixtures import clickhouse_server, clickhouse_url  # noqa: F401

``clickhouse_server`` (session scope) is a :class:`ClickHouseServer`: ``.url`` for
``open_client(...)``, ``.data_dir``, and ``.kill()`` / ``.start()`` / ``.restart()`` to take the
server down with SIGKILL and bring it back on the same port and data folder. A test that kills the
shared server must start it again (``try/finally``), or use :func:`start_clickhouse_server` for a
server of its own.

With ``CCAUDIT_TEST_CLICKHOUSE_URL`` set (e.g. ``http://default:@localhost:8123``) the fixtures
hand out that real server instead; it cannot be killed from here, so ``.external`` is True and
``.kill()`` skips the calling test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from clickhouse_connect.driver.client import Client

ENV_URL = "CCAUDIT_TEST_CLICKHOUSE_URL"
ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ClickHouseServer:
    """A ClickHouse HTTP endpoint for tests: the test server in a child process, or a real server."""

    url: str
    data_dir: Path | None = None
    port: int | None = None
    log: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def external(self) -> bool:
        """True for a real server from CCAUDIT_TEST_CLICKHOUSE_URL, which tests cannot kill."""
        return self.data_dir is None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log and self.log.exists() else ""

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the server on its port and data folder; return once it answers /ping."""
        if self.external:
            return
        assert self.data_dir is not None
        assert self.port is not None
        assert self.log is not None
        if self.running:
            raise AssertionError("the ClickHouse test server is already running")
        args = [sys.executable, "-m", "tests.chhttp.server", "--data", str(self.data_dir), "--port", str(self.port)]
        with self.log.open("ab") as handle:
            self.process = subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the ClickHouse test server exited with {self.process.returncode}:\n{self.output()}"
                )
            try:
                if httpx.get(f"{self.url}/ping", timeout=1).text == "Ok.\n":
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.process.kill()
        self.process.wait(STOP_TIMEOUT)
        raise AssertionError(f"the ClickHouse test server did not answer within {timeout}s:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL the server and wait for it to be gone (skips the test on a real server)."""
        if self.external:
            pytest.skip(f"{ENV_URL} points at a real server, which tests do not kill")
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT)

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> int | None:
        """SIGTERM, bounded; the exit status (0 for a clean stop), None on a real server."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        return self.process.returncode

    def client(self, **kwargs: Any) -> Client:
        """A clickhouse-connect client over HTTP (its defaults, unless overridden)."""
        import clickhouse_connect

        return clickhouse_connect.get_client(dsn=self.url, **kwargs)


def start_clickhouse_server(folder: Path, port: int | None = None) -> ClickHouseServer:
    """Start a test server of its own on ``folder/data`` (log in ``folder/log``)."""
    port = port or free_port()
    server = ClickHouseServer(f"http://127.0.0.1:{port}", folder / "data", port, folder / "log")
    server.start()
    return server


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseServer]:
    """The session's ClickHouse over HTTP: the test server, or the real one named by the environment."""
    url = os.environ.get(ENV_URL)
    if url:
        yield ClickHouseServer(url.rstrip("/"))
        return
    server = start_clickhouse_server(tmp_path_factory.mktemp("chhttp"))
    yield server
    assert server.stop() in (0, -signal.SIGKILL), server.output()


@pytest.fixture(scope="session")
def clickhouse_url(clickhouse_server: ClickHouseServer) -> str:
    return clickhouse_server.url
