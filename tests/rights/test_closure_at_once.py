"""Closure at once: when the service stores a platform's account.closed (or account.deactivated)
event, the account's data is erased without waiting for the scheduled retention run (switched off
here), recorded as an audit event; a stream the register gives a grace waits for it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from ccaudit.register import DEFAULT_REGISTER
from ccaudit.rights import retention
from ccaudit.rights.closures import ClosureEraser
from ccaudit.service.app import create_app
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.client import query_rows
from ccaudit.store.tokens import TokenStore
from tests.conftest import days_ago_ms, settings_for_tests, wait_until
from tests.learning.events import learning


def _audit(actor: str, days: int, **extra: Any) -> dict[str, Any]:
    return {"stream": "audit", "event_id": str(uuid.uuid4()), "event_time": days_ago_ms(days), "organisation": "org1",
            "actor_account_id": actor, "action": "login", "outcome": "success", "client_ip": "198.51.100.23",
            **extra}  # fmt: skip


def _batch(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schema_version": 1, "batch_id": str(uuid.uuid4()), "platform": "coop", "events": events}


def _naming(store: Store, account: str, table: str = "audit_events") -> int:
    sql = (f"SELECT count() FROM {store.database}.{table} WHERE actor_account_id = {{a:String}} "
           "OR subject_id = {a:String} OR (resource_type = 'account' AND resource_id = {a:String})")  # fmt: skip
    return int(query_rows(store.client, sql, {"a": account})[0][0])


def test_the_service_erases_a_closed_account_when_the_closure_is_stored(store: Store) -> None:
    settings = Settings(admin_token="admin-secret-of-closures", retention_interval_minutes=0)
    app = create_app(settings, store)
    token, _ = TokenStore(store.client, store.database).create("coop")
    before = [_audit("m-9", 5), _audit("admin-3", 4, subject_id="m-9", action="member.update"),
              learning("completed", learner="m-9"), _audit("m-other", 3)]  # fmt: skip
    # m-quiet never acted: only others' operations name it. Its closure alone makes it due.
    before.append(_audit("admin-3", 2, subject_id="m-quiet", action="member.update"))
    # A document whose id happens to equal the account id names no one: it stays as it is.
    before.append(_audit("m-other", 2, action="document.view", resource_type="document", resource_id="m-9"))
    closure = _audit("admin-3", 0, action="account.closed", resource_type="account", resource_id="m-9")
    quiet = _audit("admin-3", 0, action="account.deactivated", resource_type="account", resource_id="m-quiet")
    trail = f"SELECT count() FROM {store.database}.audit_events WHERE subject_id = 'retention:closure'"

    async def serve() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://ccaudit") as client:
                headers = {"Authorization": f"Bearer {token}"}
                assert (await client.post("/v1/events", json=_batch(before), headers=headers)).status_code == 200
                assert (_naming(store, "m-9"), _naming(store, "m-quiet")) == (2, 1)
                assert (
                    await client.post("/v1/events", json=_batch([closure, quiet]), headers=headers)
                ).status_code == 200
                await asyncio.to_thread(wait_until, lambda: query_rows(store.client, trail)[0][0] >= 1, 60)

    asyncio.run(serve())
    # The account's rows are gone or no longer name it (the closure event included), at once.
    assert _naming(store, "m-9") == 0
    assert _naming(store, "m-9", "audit_by_person") == 0  # the copies filed by person, the closure's too
    learned = query_rows(store.client, f"SELECT count() FROM {store.database}.learning_events WHERE learner = 'm-9'")
    assert learned[0][0] == 0
    assert _naming(store, "m-quiet") == 0
    assert _naming(store, "m-other") == 2
    document = query_rows(store.client, f"SELECT resource_id, client_ip FROM {store.database}.audit_events "
                          "WHERE resource_type = 'document'")  # fmt: skip
    assert document == [("m-9", "198.51.100.23")]
    # The erasure is in the trail, naming no account.
    (details,) = query_rows(store.client, f"SELECT details FROM {store.database}.audit_events "
                            "WHERE subject_id = 'retention:closure'")[0]  # fmt: skip
    assert "m-9" not in str(details)
    assert details["accounts"] == "2"
    # Nothing is left for the scheduled run: the account's last use and closure went with it.
    assert not [d for d in retention.plan(store, settings, datetime.now(UTC)) if d.account_id == "m-9"]


def test_a_stream_with_a_grace_waits_for_it(store: Store) -> None:
    audit = DEFAULT_REGISTER.default["audit"].model_copy(update={"closure_grace_days": 30})
    register = DEFAULT_REGISTER.model_copy(update={"default": {**DEFAULT_REGISTER.default, "audit": audit}})
    settings = settings_for_tests(processing_register=register)
    app_settings = Settings(admin_token="admin-secret-of-closures", retention_interval_minutes=0,
                            processing_register=register)  # fmt: skip
    eraser = ClosureEraser(store, settings)
    eraser.start()
    try:
        from ccaudit.ingest import Ingestor

        ingestor = Ingestor(app_settings, store)
        ingestor.on_closed = eraser.notice
        ingestor.ingest(_batch([_audit("m-7", 3), learning("completed", learner="m-7"),
                                _audit("admin-3", 0, action="account.deactivated", resource_type="account",
                                       resource_id="m-7")]))  # fmt: skip
        assert eraser.force_flush(60)
    finally:
        assert eraser.shutdown(10)
    # The learning stream has no grace: erased at once; the audit stream's 30 days are still to come.
    learned = query_rows(store.client, f"SELECT count() FROM {store.database}.learning_events WHERE learner = 'm-7'")
    assert learned[0][0] == 0
    assert _naming(store, "m-7") == 2
    due = [d for d in retention.plan(store, settings, datetime.now(UTC)) if d.account_id == "m-7"]
    assert due
    assert "audit" not in due[0].streams
