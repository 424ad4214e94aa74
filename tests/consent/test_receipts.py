"""Consent receipts: the context API, ingest into the real engine, the history read API."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ccaudit import CaptureMiddleware, Identity, record_consent, set_actor
from ccaudit.consent.receipts import ReceiptError, make_receipt
from ccaudit.errors import IngestError
from ccaudit.events import ConsentEvent
from ccaudit.ingest import Ingestor
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.tables import CONSENT_RECEIPTS, PERSONAL_DATA_TABLES
from tests.conftest import MemorySink, Service, days_ago_ms, iso_ms, settings_for_tests
from tests.ingest.test_pipeline import batch

T0 = days_ago_ms(1)
IP = "203.0.113.77"
AGENT = "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/133.0"


def request(app: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(IP, 4321))
        async with httpx.AsyncClient(transport=transport, base_url="http://platform.test") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


# --- the context API ---


async def preferences(request: Request) -> Response:
    data = await request.json()
    set_actor("acct-42")
    ok = record_consent(
        data["id"], data["accepted"], data["rejected"], action=data["action"], revision=2, language="fr",
        services_accepted=("matomo",),
    )  # fmt: skip
    return JSONResponse({"recorded": ok})


async def broken(request: Request) -> Response:
    try:
        record_consent("not-a-uuid", ["analytics"], [], action="accept_all", revision=1)
    except ReceiptError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse({})


def consent_app() -> tuple[Any, MemorySink]:
    sink = MemorySink()
    recorder: Any = sink
    app = CaptureMiddleware(
        Starlette(routes=[Route("/prefs", preferences, methods=["GET"]), Route("/broken", broken)]),
        settings_for_tests(),
        recorder=recorder,
        resolver=lambda scope: Identity(organisation="org-1"),
    )
    return app, sink


def test_record_consent_emits_a_receipt_with_account_and_signals_at_the_end_of_the_request() -> None:
    app, sink = consent_app()
    consent_id = str(uuid.uuid4()).upper()
    body = {"id": consent_id, "accepted": ["necessary"], "rejected": ["analytics"], "action": "withdraw"}
    # A GET by an anonymous-looking request: nothing else would be recorded, the receipt still is.
    response = request(app, "GET", "/prefs", content=json.dumps(body), headers={"DNT": "1", "User-Agent": AGENT})
    assert response.json() == {"recorded": True}
    [event] = sink.events
    assert isinstance(event, ConsentEvent)
    assert event.consent_id == consent_id.lower()
    assert (event.account_id, event.method, event.action, event.language) == ("acct-42", "api", "withdraw", "fr")
    assert (event.categories_accepted, event.categories_rejected) == (("necessary",), ("analytics",))
    assert event.services_accepted == ("matomo",)
    assert (event.gpc, event.dnt, event.policy_revision, event.banner_text_sha256) == (False, True, 2, "")
    assert IP not in json.dumps(event.to_wire())
    assert AGENT not in json.dumps(event.to_wire())


def test_record_consent_refuses_a_bad_receipt_at_once_and_does_nothing_outside_a_request() -> None:
    app, sink = consent_app()
    response = request(app, "GET", "/broken")
    assert response.status_code == 400
    assert "consent_id" in response.json()["error"]
    assert sink.events == []
    assert record_consent(str(uuid.uuid4()), ["analytics"], [], action="accept_all", revision=1) is False


@pytest.mark.parametrize(
    "fields",
    [
        {"consent_id": "abc"},
        {"accepted": "analytics"},
        {"accepted": ["Analytics!"]},
        {"action": "maybe"},
        {"method": "email"},
        {"revision": -1},
        {"language": "Dutch"},
        {"banner_text_sha256": "abc"},
        {"accepted": ["analytics"], "rejected": ["analytics"]},
    ],
)
def test_make_receipt_names_the_bad_field(fields: dict[str, Any]) -> None:
    base: dict[str, Any] = {
        "consent_id": str(uuid.uuid4()), "accepted": ["necessary"], "rejected": [], "action": "custom",
        "method": "api", "revision": 1,
    }  # fmt: skip
    base.update(fields)
    with pytest.raises(ReceiptError):
        make_receipt(**base)


# --- ingest and history (real engine) ---


def consent_wire(consent_id: str, n: int, **fields: Any) -> dict[str, Any]:
    event = make_receipt(
        consent_id=consent_id, accepted=["necessary", "analytics"], rejected=[], action="accept_all",
        method="banner", revision=1, banner_text_sha256="a" * 64, language="nl", account_id="acct-1",
        now_ms=T0 + n * 1000,
    )  # fmt: skip
    wire = event.to_wire()
    wire.update(fields)
    return wire


@pytest.fixture
def ingestor(store: Store) -> Ingestor:
    return Ingestor(Settings(), store)


def test_receipts_are_stored_with_five_years_retention_and_read_back_oldest_first(
    ingestor: Ingestor, store: Store
) -> None:
    consent_id, other = str(uuid.uuid4()), str(uuid.uuid4())
    withdraw = consent_wire(
        consent_id, 5, action="withdraw", categories_accepted=["necessary"], categories_rejected=["analytics"], gpc=True
    )
    first = consent_wire(consent_id, 1)
    ingestor.ingest(batch([withdraw, first, consent_wire(other, 2)]))
    ingestor.ingest(batch([first]))  # a redelivery is stored once
    history = store.consent_history(consent_id)
    assert [r["action"] for r in history] == ["accept_all", "withdraw"]
    assert history[0]["event_id"] == first["event_id"]
    assert history[0]["event_time"] == iso_ms(T0 + 1000)
    assert history[1]["categories_rejected"] == ["analytics"]
    assert history[1]["gpc"] is True
    assert history[0]["account_id"] == "acct-1"
    assert history[0]["platform"] == "coop"
    assert "retention_days" not in history[0]
    days = store.client.command(f"SELECT DISTINCT retention_days FROM {store.database}.consent_receipts")
    assert int(days) == 1825
    assert store.consent_history(str(uuid.uuid4())) == []


def test_stored_receipts_hold_no_ip_or_user_agent(ingestor: Ingestor, store: Store) -> None:
    ingestor.ingest(batch([consent_wire(str(uuid.uuid4()), 1)]))
    columns = [
        name
        for (name,) in store.client.query(
            "SELECT name FROM system.columns WHERE database = {db:String} AND table = 'consent_receipts'",
            parameters={"db": store.database},
        ).result_rows
    ]
    assert "consent_id" in columns
    assert not [c for c in columns if "ip" in c.split("_") or "agent" in c]
    # And the wire format has no place for them: an IP is refused, not silently dropped.
    with pytest.raises(IngestError, match="client_ip"):
        ingestor.ingest(batch([consent_wire(str(uuid.uuid4()), 2, client_ip=IP)]))


def test_a_stored_receipt_is_found_by_each_subject_column_of_its_table(ingestor: Ingestor, store: Store) -> None:
    """Subject tooling finds a person's receipts through the columns the table list names: each of
    them must hold the person's identifier in the stored row."""
    consent_id = str(uuid.uuid4())
    ingestor.ingest(batch([consent_wire(consent_id, 1), consent_wire(str(uuid.uuid4()), 2, account_id="acct-2")]))
    identifiers = {"consent_id": consent_id, "account_id": "acct-1"}
    assert CONSENT_RECEIPTS in PERSONAL_DATA_TABLES
    assert set(CONSENT_RECEIPTS.subject_columns) == set(identifiers)
    for column, value in identifiers.items():
        found = store.client.query(
            f"SELECT event_id FROM {store.database}.{CONSENT_RECEIPTS.name} WHERE toString({column}) = {{v:String}}",
            parameters={"v": value},
        ).result_rows
        assert len(found) == 1, column


@pytest.mark.e2e
def test_history_route_over_http(service: Service) -> None:
    # Through the real service process: an in-process app here would register the service's
    # OpenTelemetry instruments before the observability test installs its meter provider.
    cid = str(uuid.uuid4())
    assert service.post_batch(batch([consent_wire(cid, 1)])).status_code == 200
    auth = {"Authorization": f"Bearer {service.personal_token('dpo')}"}
    response = httpx.get(f"{service.url}/v1/consent/{cid.upper()}", headers=auth, timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["consent_id"] == cid
    assert [r["action"] for r in body["receipts"]] == ["accept_all"]
    assert body["receipts"][0]["policy_revision"] == 1
    assert httpx.get(f"{service.url}/v1/consent/{cid}", timeout=10).status_code == 401
    assert httpx.get(f"{service.url}/v1/consent/{uuid.uuid4()}", headers=auth, timeout=10).status_code == 404
    bad = httpx.get(f"{service.url}/v1/consent/not-a-uuid", headers=auth, timeout=10)
    assert bad.status_code == 400
    assert "consent_id" in bad.json()["error"]
