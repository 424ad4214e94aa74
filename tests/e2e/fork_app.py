"""A WSGI app for the pre-fork test: at import (in gunicorn's master, with --preload) it handles a few
audited requests in-process, so the master's recorder holds events when the workers are forked.

With a long flush interval nothing ships before the fork; each worker then answers requests and ships
at its exit, the master at its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from ccaudit import Identity, WsgiCaptureMiddleware
from tests.e2e import PRELOAD_IDS


def inner(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]


def actor(environ: Any) -> Identity | None:
    return Identity(account_id="forker", role="admin")


app = WsgiCaptureMiddleware(inner, resolver=actor)


def _preload() -> None:
    for request_id in PRELOAD_IDS:
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/admin/preload", "HTTP_X_REQUEST_ID": request_id,
                   "REMOTE_ADDR": "127.0.0.1"}  # fmt: skip
        result = app(environ, lambda status, headers, exc_info=None: None)
        list(result)
        result.close()  # type: ignore[attr-defined]


_preload()
assert app.recorder.stats()["queued"] == len(PRELOAD_IDS), "the master must still hold its events at the fork"
