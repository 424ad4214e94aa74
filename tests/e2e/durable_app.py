"""A Starlette platform for the durability tests: audited admin POSTs and HTML pages (page views for
visitors whose consent allows analytics), with ccaudit's capture middleware and settings from the
``CCAUDIT_*`` environment, run under uvicorn."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route

from ccaudit import CaptureMiddleware, Identity, load_settings


def resolve(scope: Any) -> Identity | None:
    return Identity(account_id="durable-admin", organisation="org-durable", role="admin")


async def create_item(request: Request) -> PlainTextResponse:
    await request.body()
    return PlainTextResponse("created", status_code=201)


async def page(request: Request) -> HTMLResponse:
    return HTMLResponse("<p>a public page</p>")


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Starlette(
    routes=[
        Route("/admin/items", create_item, methods=["POST"]),
        Route("/page", page, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
    ],
    middleware=[Middleware(CaptureMiddleware, settings=load_settings(), resolver=resolve)],
)
