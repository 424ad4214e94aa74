"""The platform the fault scenarios drive: a Starlette app with ccaudit's capture middleware, under uvicorn.

Every ``POST /admin/items`` is an admin operation, so each acknowledged request has exactly one audit
event, found in the store by the request's ``X-Request-ID``. Settings come from the ``CCAUDIT_*``
environment like any platform's (service URL, ingest token, data folder with the spool, flush interval).

One knob is the test suite's own: ``CCAUDIT_TEST_SPOOL_LEASE`` shortens how long a shipper's claim on
spooled rows lasts (60 s in the product), so that after a SIGKILL the restarted process picks up the
rows the dead one had claimed within seconds instead of a minute. The mechanism is the same.
"""

from __future__ import annotations

import os
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from ccaudit import CaptureMiddleware, Identity, load_settings
from ccaudit.shipping import recorder as _recorder

if os.environ.get("CCAUDIT_TEST_SPOOL_LEASE"):
    _recorder._LEASE = float(os.environ["CCAUDIT_TEST_SPOOL_LEASE"])


def resolve(scope: Any) -> Identity | None:
    return Identity(account_id="faults-admin", organisation="org-faults", role="admin")


async def create_item(request: Request) -> PlainTextResponse:
    await request.body()
    return PlainTextResponse("created", status_code=201)


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Starlette(
    routes=[Route("/admin/items", create_item, methods=["POST"]), Route("/health", health, methods=["GET"])],
    middleware=[Middleware(CaptureMiddleware, settings=load_settings(), resolver=resolve)],
)
