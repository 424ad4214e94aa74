"""Strict traffic against an unreachable service: sends follow the service's backoff schedule.

The Django kit in-process, through Django's own WSGI handler and the real middleware, recorder,
spool and HTTP transport; the service's port has nobody listening. Strict admin POSTs and public GETs
run for a few seconds; then the number of sends is held to what the schedule allows in the time that
passed. (Before: each strict POST woke the shippers and reset the backoff, about one send per POST.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.test import override_settings

from ccaudit.capture.core import CaptureCore
from ccaudit.capture.wsgi import environ_identity
from ccaudit.integrations.django import AuditMiddleware
from ccaudit.shipping.destination import max_attempts_within
from ccaudit.shipping.recorder import Recorder
from ccaudit.shipping.spool import Spool
from ccaudit.shipping.transport import HttpTransport
from tests.capture.test_django_glue import login_cookie
from tests.capture.test_wsgi import Call, environ_for
from tests.conftest import free_port, settings_for_tests
from tests.faults.harness import spooled_request_ids

BACKOFF_MAX = 30.0  # the recorder's default
SHIPPERS = 2  # both may send before the first failure is known
RUN_FOR = 3.0  # seconds of traffic


class Unreachable(HttpTransport):
    """The real HTTP transport to a port nobody listens on, counting its sends."""

    def __init__(self) -> None:
        super().__init__(f"http://127.0.0.1:{free_port()}", timeout=5)
        self.sends = 0
        self._lock = threading.Lock()

    def send(self, payload: bytes) -> None:
        with self._lock:
            self.sends += 1
        super().send(payload)


RECORDERS: list[Recorder] = []


class StrictAuditMiddleware(AuditMiddleware):
    """The real middleware with one strict route, over the recorder the test made."""

    def __init__(self, get_response: Any) -> None:
        settings = settings_for_tests(platform="library", strict_paths=("/admin/books/*",), flush_interval=1.0)
        super().__init__(get_response, core=CaptureCore(settings, RECORDERS[-1], environ_identity))


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[WSGIHandler]:
    import django

    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "middleware.django_kit.settings")
    django.setup()
    spool = Spool(tmp_path / "spool.sqlite3")
    RECORDERS.append(Recorder(Unreachable(), platform="library", spool=spool, flush_interval=1.0))
    middleware = [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        f"{__name__}.StrictAuditMiddleware",
    ]
    with override_settings(MIDDLEWARE=middleware, CCAUDIT_ORGANISATION="bibliotheek-west"):
        yield WSGIHandler()
    RECORDERS[-1].shutdown(1)
    spool.close()


def test_strict_posts_never_make_the_shippers_send_faster_than_the_schedule(handler: WSGIHandler) -> None:
    recorder = RECORDERS[-1]
    transport = recorder.transport
    assert isinstance(transport, Unreachable)
    spool = recorder.spool
    assert spool is not None
    started = time.monotonic()
    cookie = login_cookie(handler)
    posts = gets = 0
    while time.monotonic() - started < RUN_FOR:
        call = Call(handler, environ_for("POST", "/admin/books/1", HTTP_COOKIE=cookie, HTTP_X_REQUEST_ID=f"s-{posts}"))
        assert call.status.startswith("303"), call.status  # kept (fsynced) before the response: not refused
        posts += 1
        for _ in range(4):
            assert Call(handler, environ_for("GET", "/about")).status.startswith("200")
            gets += 1
    sends = transport.sends
    elapsed = time.monotonic() - started  # read after the count: the bound can only be looser
    allowed = max_attempts_within(elapsed, BACKOFF_MAX) + SHIPPERS - 1
    print(f"{posts} strict POSTs, {gets} GETs in {elapsed:.1f} s: {sends} sends, the schedule allows {allowed}")
    assert sends >= 1, "the shippers never tried: the fault was not exercised"
    assert sends <= allowed
    assert recorder.stats()["sends"] == sends
    assert posts > allowed  # one send per strict POST, as before, would have broken the bound
    # Every strict POST's event is in the spool, waiting for the service.
    assert {f"s-{n}" for n in range(posts)} <= spooled_request_ids(spool.path)
