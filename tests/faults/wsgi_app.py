"""The pre-fork platform of the fault scenarios: a plain WSGI app inside ccaudit's WSGI middleware,
run by gunicorn with several workers that share one spool file.

Like ``app.py``: every ``POST /admin/items`` is an admin operation with exactly one audit event, found
in the store by the request's ``X-Request-ID``; settings come from the ``CCAUDIT_*`` environment. The
answer's body is the worker's pid, so a test can tell that several workers served.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from ccaudit import Identity, WsgiCaptureMiddleware, load_settings


def resolve(environ: Any) -> Identity | None:
    return Identity(account_id="faults-admin", organisation="org-faults", role="admin")


def inner(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
    if path == "/health":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
    if path == "/admin/items" and method == "POST":
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("201 Created", [("Content-Type", "text/plain")])
        return [str(os.getpid()).encode()]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


app = WsgiCaptureMiddleware(inner, load_settings(), resolver=resolve)
