"""Whatever platform code hands the Python API, the event it builds is one the wire accepts.

A refused event takes its whole batch to the dead letters, audit events included: so the API cuts
names, ids and details to the wire's limits instead of passing them on.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ccaudit import CaptureMiddleware, record_audit, set_actor, set_subject
from ccaudit.wire import validate_event
from tests.conftest import MemorySink, settings_for_tests

TEXT = st.text(max_size=3000)
SINK = MemorySink()
ARGS: dict[str, Any] = {}


async def endpoint(request: Request) -> Response:
    set_actor(ARGS["account"], profile_id=ARGS["profile"], organisation=ARGS["organisation"], role=ARGS["role"])
    set_subject(ARGS["subject"])
    record_audit(ARGS["action"], resource_type=ARGS["kind"], resource_id=ARGS["id"], details=ARGS["details"])
    return PlainTextResponse("ok")


APP = CaptureMiddleware(
    Starlette(routes=[Route("/admin/x", endpoint, methods=["POST"])]),
    settings_for_tests(),
    recorder=SINK,  # type: ignore[arg-type]
)


@settings(max_examples=80, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "account": TEXT, "profile": TEXT, "organisation": TEXT, "role": TEXT, "subject": TEXT, "action": TEXT,
            "kind": TEXT, "id": TEXT, "details": st.dictionaries(TEXT, TEXT | st.integers(), max_size=40),
        }
    )
)  # fmt: skip
def test_any_values_from_platform_code_make_an_event_the_wire_accepts(values: dict[str, Any]) -> None:
    ARGS.clear()
    ARGS.update(values)
    SINK.events.clear()

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=APP), base_url="http://p") as client:
            return await client.post("/admin/x")

    assert asyncio.run(go()).status_code == 200
    assert SINK.events
    for event in SINK.events:
        validate_event(event.to_wire())  # raises on anything the service would refuse
