"""record_account: platform code says an account was closed; the event is the one the retention
job's closure view reads (resource_type 'account', action account.closed, the account as resource)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ccaudit import CaptureMiddleware, record_account
from ccaudit.ingest import Ingestor
from ccaudit.rights import retention
from ccaudit.store import Store
from tests.capture.test_asgi import Platform, resolver
from tests.conftest import MemorySink, settings_for_tests


async def close_account(request: Request) -> Response:
    record_account(request.path_params["aid"], "closed", reason="asked by the member")
    return PlainTextResponse("closed")


def test_a_closed_account_is_recorded_and_planned_for_erasure(store: Store) -> None:
    sink = MemorySink()
    inner = Starlette(routes=[Route("/admin/accounts/{aid}/close", close_account, methods=["POST"])])
    app = CaptureMiddleware(inner, settings_for_tests(), resolver=resolver, recorder=sink)  # type: ignore[arg-type]
    assert Platform(app).post("/admin/accounts/m-5/close", headers={"x-test-user": "admin-2"}).status_code == 200
    (event,) = sink.events
    assert (event.action, event.resource_type, event.resource_id) == ("account.closed", "account", "m-5")
    assert record_account("m-5", "deactivated") is False  # outside a request

    settings = settings_for_tests()
    ingestor = Ingestor(settings, store)
    used = {**event.to_wire(), "event_id": str(uuid.uuid4()), "actor_account_id": "m-5", "action": "login",
            "resource_type": "", "resource_id": "", "event_time": event.event_time_ms - 60_000}  # fmt: skip
    ingestor.ingest({"schema_version": 1, "batch_id": str(uuid.uuid4()), "platform": "coop",
                     "events": [used, event.to_wire()]})  # fmt: skip
    # The default register gives no grace: every stream of the account is due at once.
    due = [
        d for d in retention.plan(store, settings, datetime.now(UTC) + timedelta(minutes=1)) if d.account_id == "m-5"
    ]
    assert due[0].reason == "closed"
    assert due[0].complete
