"""Sealing in the service: the sealer runs with the app's lifespan, ingest answers carry the seal
heads, the auditor verifies through ``GET /v1/verify``, and a lost key stops sealing loudly."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from ccaudit.access import AccountStore, ApiTokenStore
from ccaudit.access.roles import ROLE_PERMISSIONS, Role
from ccaudit.seal.seals import seal_path
from ccaudit.service.app import create_app
from ccaudit.settings import Settings
from ccaudit.store import Store
from tests.conftest import wait_until
from tests.ingest.test_pipeline import batch, wire

ADMIN = secrets.token_urlsafe(24)


def _auditor(store: Store) -> dict[str, str]:
    name = f"auditor-{uuid.uuid4().hex[:8]}"
    account = AccountStore(store.client, store.database).create(name, "auditor", [], "a long enough password")
    token, _ = ApiTokenStore(store.client, store.database).create_personal(
        account.account_id, ROLE_PERMISSIONS[Role.AUDITOR]
    )
    return {"Authorization": f"Bearer {token}"}


def _serve(app: Starlette, body: Callable[[httpx.AsyncClient], Awaitable[Any]]) -> Any:
    """Run ``body`` against ``app`` inside the app's lifespan, as ``ccaudit serve`` runs it."""

    async def go() -> Any:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
                return await body(client)

    return asyncio.run(go())


def test_the_service_seals_answers_heads_and_verifies(store: Store, tmp_path: Path) -> None:
    # A second to settle: an event posted at a period's end is stored before that period is sealed.
    settings = Settings(admin_token=ADMIN, data_dir=tmp_path, seal_period=1, seal_settle=1)
    app = create_app(settings, store)
    ingest_token, _ = app.state.tokens.create("coop")
    auth = {"Authorization": f"Bearer {ingest_token}"}
    events = [wire(1), wire(2), wire(3)]

    async def body(client: httpx.AsyncClient) -> None:
        assert (await client.post("/v1/events", json=batch(events[:2]), headers=auth)).status_code == 200
        auditor = _auditor(store)  # made after the service read its tokens: it is known at once
        await asyncio.to_thread(
            wait_until,
            lambda: {h["stream"] for h in app.state.sealing.heads("coop")} == {"audit", "consent", "learning"},
        )
        answer = (await client.post("/v1/events", json=batch(events[2:]), headers=auth)).json()
        heads = {h["stream"]: h for h in answer["seals"]}
        assert set(heads) == {"audit", "consent", "learning"}
        assert len(heads["audit"]["hash"]) == 64
        report = (await client.get("/v1/verify", headers=auditor)).json()
        assert report["ok"], report["findings"]
        trusted = f"coop/audit:{heads['audit']['seq']}:{heads['audit']['hash']}"
        pinned = await client.get("/v1/verify", params={"trusted_head": trusted}, headers=auditor)
        assert pinned.json()["ok"]
        assert (await client.get("/v1/verify", params={"stream": "usage"}, headers=auditor)).status_code == 400
        assert (await client.get("/health")).json()["seal"]["status"] == "ok"

    _serve(app, body)
    # At shutdown everything received was sealed: the seal files hold all three events.
    last = app.state.sealing.store.latest("coop", "audit")
    assert last is not None
    folder = tmp_path / "seals"
    sealed = {
        leaf[0]
        for seq in range(1, last.seq + 1)
        for leaf in json.loads(seal_path(folder, "coop", "audit", seq).read_text())["leaves"]
    }
    assert {e["event_id"] for e in events} <= sealed
    assert (folder / "public-keys.json").exists()


def test_a_lost_key_stops_sealing_loudly_and_sealing_resumes_when_it_is_back(store: Store, tmp_path: Path) -> None:
    settings = Settings(admin_token=ADMIN, data_dir=tmp_path, seal_period=3600, seal_settle=0)
    app = create_app(settings, store)
    key = settings.seal_key_path

    async def body(client: httpx.AsyncClient) -> None:
        sealer = app.state.sealing.sealer
        assert key.exists(), "the key pair is made on the first start"
        kept = key.read_bytes()
        key.unlink()
        assert await asyncio.to_thread(sealer.seal_due, True) == 0
        health = (await client.get("/health")).json()
        assert health["status"] == "degraded"
        assert health["seal"]["status"] == "stopped"
        assert str(key) in health["seal"]["error"]
        key.write_bytes(kept)
        assert await asyncio.to_thread(sealer.seal_due, True) > 0
        assert (await client.get("/health")).json()["seal"]["status"] == "ok"

    _serve(app, body)
