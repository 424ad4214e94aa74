"""The platform the fault scenarios drive: a Starlette app with ccaudit's capture middleware, under uvicorn.

Every ``POST /admin/items`` is an admin operation, so each acknowledged request has exactly one audit
event, found in the store by the request's ``X-Request-ID``. Settings come from the ``CCAUDIT_*``
environment like any platform's (service URL, ingest token, data folder with the spool, flush interval).

The harness shortens ``CCAUDIT_SPOOL_LEASE_SECONDS`` (how long a shipper's claim on spooled rows
lasts), so that after a SIGKILL the restarted process picks up the rows the dead one had claimed
within seconds. The mechanism is the same as in production.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from ccaudit import CaptureMiddleware, Identity, load_settings


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
