"""The service over real HTTP: health, the ingest contract and the read API's errors."""

from __future__ import annotations

import httpx
import pytest

from ccaudit.ids import new_id
from tests.conftest import Service, wait_until
from tests.ingest.test_pipeline import batch, wire

pytestmark = pytest.mark.e2e


def auth(service: Service) -> dict[str, str]:
    return {"Authorization": f"Bearer {service.reader}"}


def test_health_reports_store_and_counters(service: Service) -> None:
    body = httpx.get(service.url + "/health").json()
    assert body["status"] == "ok"
    assert set(body["ingest"]) == {
        "batches",
        "events",
        "rejected_batches",
        "unauthorised",
        "rate_limited",
        "store_errors",
        "rewrites_refused",
        "scrubbed",
    }


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic abc", "Bearer"])
def test_read_api_requires_the_admin_token(service: Service, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = httpx.get(service.url + "/v1/audit/events", headers=headers)
    assert response.status_code == 401
    assert "credential is required" in response.json()["error"]


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"outcome": "great"}, "outcome"),
        ({"since": "last tuesday"}, "since"),
        ({"cursor": "!!"}, "cursor"),
        ({"colour": "red"}, "colour"),
        ({"actor": "x" * 300}, "actor"),
    ],
)
def test_bad_read_parameters_are_named(service: Service, params: dict[str, str], named: str) -> None:
    response = httpx.get(service.url + "/v1/audit/events", params=params, headers=auth(service))
    assert response.status_code == 400
    assert response.json()["error"].startswith(named + ":")


def ingest_headers(service: Service, platform: str = "coop") -> dict[str, str]:
    return {"Authorization": f"Bearer {service.ingest_token(platform)}", "Content-Type": "application/json"}


def test_ingest_contract(service: Service) -> None:
    url = service.url + "/v1/events"
    malformed = httpx.post(url, content=b"{not json", headers=ingest_headers(service))
    assert malformed.status_code == 400
    assert "malformed JSON" in malformed.json()["error"]

    request_id = f"svc-{new_id()}"
    good = wire(1, request_id=request_id)
    invalid = service.post_batch(batch([good, wire(2, status="teapot")]))
    assert invalid.status_code == 400
    assert [p["index"] for p in invalid.json()["problems"]] == [1]

    accepted = service.post_batch(batch([good]))
    assert accepted.status_code == 200
    assert accepted.json()["accepted"] == 1
    again = service.post_batch(batch([good]))  # a retry after a lost acknowledgement
    assert again.status_code == 200
    rows = wait_until(lambda: service.events(request_id=request_id))
    assert len(rows) == 1  # nothing of the refused batch, the good event once


def test_oversized_body_is_refused_before_reading_it_all(service: Service) -> None:
    response = httpx.post(
        service.url + "/v1/events", content=b"x" * (17 * 1024 * 1024), headers=ingest_headers(service)
    )
    assert response.status_code == 413
