"""Slow clients against a real ``ccaudit serve`` over real sockets: headers and bodies that stop half
way, bytes that trickle in, and hundreds of half-open connections while ``/health`` must answer.

Each test waits for the server to close the connection (end of file), not for a time: the socket's
timeout only stops a test that would otherwise hang on a server that never closes.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Service
from tests.service.processes import running_service

pytestmark = pytest.mark.e2e

# Far longer than the deadlines the service below is given: reached only by a server that never closes.
HANG = 60.0


@pytest.fixture(scope="module")
def impatient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A service that gives clients one second for headers and one for a body."""
    folder = Path(tmp_path_factory.mktemp("impatient"))
    with running_service(folder, CCAUDIT_HEADER_TIMEOUT="1", CCAUDIT_BODY_TIMEOUT="1") as service:
        yield service


def connect(service: Service) -> socket.socket:
    port = int(service.url.rsplit(":", 1)[1])
    return socket.create_connection(("127.0.0.1", port), timeout=HANG)


def until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    with sock:
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                return received
            if not chunk:
                return received
            received += chunk


def trickle_until_closed(sock: socket.socket, data: bytes, pause: float = 0.1) -> bool:
    """Send ``data`` a byte at a time; True when the server closed the connection before the end."""
    with sock:
        for byte in data:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                return True
            time.sleep(pause)
        return False


def test_headers_that_stop_half_way_are_answered_408_and_closed(impatient: Service) -> None:
    sock = connect(impatient)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: ccaudit\r\nX-Half: a li")
    assert until_closed(sock).startswith(b"HTTP/1.1 408 ")


def test_a_connection_that_sends_nothing_is_closed(impatient: Service) -> None:
    assert until_closed(connect(impatient)) == b""


def test_headers_trickling_in_do_not_keep_the_connection(impatient: Service) -> None:
    # A byte every tenth of a second restarted uvicorn's keep-alive timer each time: never closed.
    header = b"GET /health HTTP/1.1\r\nX-Slow: " + b"s" * (int(HANG / 0.1) - 40)
    assert trickle_until_closed(connect(impatient), header)


def test_a_body_that_stops_half_way_is_answered_408_and_closed(impatient: Service) -> None:
    sock = connect(impatient)
    head = (
        "POST /v1/admin/tokens HTTP/1.1\r\nHost: ccaudit\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {impatient.token}\r\nContent-Length: 100\r\n\r\n"
    )
    sock.sendall(head.encode() + b'{"platform": "co')
    assert until_closed(sock).startswith(b"HTTP/1.1 408 ")
    # Nothing of the half request was done.
    listing = httpx.get(impatient.url + "/v1/admin/tokens", headers={"Authorization": f"Bearer {impatient.token}"})
    assert listing.json() == {"tokens": []}


def test_a_body_trickling_after_an_early_answer_does_not_keep_the_connection(impatient: Service) -> None:
    # Refused at once (no token), the client keeps sending the body it announced, a byte at a time.
    sock = connect(impatient)
    sock.sendall(b"POST /v1/admin/tokens HTTP/1.1\r\nHost: ccaudit\r\nContent-Length: 100000\r\n\r\n")
    assert trickle_until_closed(sock, b"x" * int(HANG / 0.1))


def test_headers_past_the_size_limit_are_431(impatient: Service) -> None:
    sock = connect(impatient)
    # The server may close before the rest is sent; what it answered is still there to be read.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(b"GET /health HTTP/1.1\r\nX-Big: " + b"b" * 100_000)
    assert until_closed(sock).startswith(b"HTTP/1.1 431 ")


def test_requests_in_time_are_served_as_before(impatient: Service) -> None:
    with httpx.Client(base_url=impatient.url) as client:  # one kept-alive connection
        assert [client.get("/health").status_code for _ in range(3)] == [200, 200, 200]


# --- many half-open connections ---


@pytest.mark.parametrize("held", [600])
def test_health_answers_while_hundreds_of_half_open_connections_are_held(tmp_path: Path, held: int) -> None:
    # 512 open files, as on a host with a low `ulimit -n`: more connections than descriptors left over.
    # Without a cap the service ran out of them and accepted nothing more, /health included.
    with running_service(tmp_path, open_files=512) as service:
        port = int(service.url.rsplit(":", 1)[1])
        half_open = []
        try:
            for _ in range(held):
                sock = socket.create_connection(("127.0.0.1", port), timeout=HANG)
                half_open.append(sock)
                # Headers without their blank line; a connection closed to make room refuses them.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    sock.sendall(b"GET /health HTTP/1.1\r\nHost: ccaudit\r\n")
            health = httpx.get(service.url + "/health", timeout=30)
            assert health.status_code == 200
            assert health.json()["store"] == "ok"
        finally:
            for sock in half_open:
                sock.close()
