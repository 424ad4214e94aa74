"""The trail's rules at the service's door, over real HTTP against ``ccaudit serve``.

Content types, gzip members, rewrites (409) and a property: whatever JSON body arrives, ingest
answers 2xx or 4xx, and after any accepted batch every read route still answers 200.
"""

from __future__ import annotations

import gzip
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccaudit.ids import new_id
from tests.conftest import Service
from tests.consent.test_receipts import consent_wire
from tests.ingest.test_pipeline import batch, wire
from tests.ingest.test_usage import CHROME, view

pytestmark = pytest.mark.e2e


def now_wire(**fields: Any) -> dict[str, Any]:
    return wire(0, **{"event_id": new_id(), "event_time": time.time_ns() // 1_000_000, **fields})


def post(service: Service, body: bytes, platform: str = "coop", **headers: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {service.ingest_token(platform)}", **headers}
    return httpx.post(f"{service.url}/v1/events", content=body, headers=headers, timeout=30)


def stored(service: Service, request_id: str) -> list[dict[str, Any]]:
    return service.events(request_id=request_id)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_a_body_that_is_not_declared_json_is_415(service: Service, content_type: str | None) -> None:
    rid = f"ct-{uuid.uuid4()}"
    headers = {"Content-Type": content_type} if content_type else {}
    response = post(service, json.dumps(batch([now_wire(request_id=rid)])).encode(), **headers)
    assert response.status_code == 415
    assert stored(service, rid) == []


def test_json_with_a_charset_is_json(service: Service) -> None:
    rid = f"ct-{uuid.uuid4()}"
    body = json.dumps(batch([now_wire(request_id=rid)])).encode()
    assert post(service, body, **{"Content-Type": "application/json; charset=utf-8"}).status_code == 200


@pytest.mark.parametrize("shape", ["two-members", "trailing-junk", "truncated"])
def test_gzip_is_one_whole_member_and_nothing_after_it(service: Service, shape: str) -> None:
    first, second = f"gz1-{uuid.uuid4()}", f"gz2-{uuid.uuid4()}"
    member = gzip.compress(json.dumps(batch([now_wire(request_id=first)])).encode())
    body = {
        "two-members": member + gzip.compress(json.dumps(batch([now_wire(request_id=second)])).encode()),
        "trailing-junk": member + b"junk",
        "truncated": member[:-6],
    }[shape]
    response = post(service, body, **{"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert "gzip" in response.json()["error"]
    assert stored(service, first) == []  # nothing of it: not even the first member's events


@pytest.mark.parametrize("stream", ["audit", "usage", "consent"])
@pytest.mark.parametrize("sender", ["coop", "library"])
def test_a_rewrite_is_409_and_the_first_write_stands(service: Service, stream: str, sender: str) -> None:
    rid = f"rw-{uuid.uuid4()}"
    first = {
        "audit": now_wire(request_id=rid),
        "usage": view("203.0.113.5", CHROME, page="/p/{id}"),
        "consent": consent_wire(str(uuid.uuid4()), 0, event_time=time.time_ns() // 1_000_000),
    }[stream]
    assert service.post_batch(batch([first])).status_code == 200
    attempt = {**first, {"audit": "actor_account_id", "usage": "page", "consent": "account_id"}[stream]: "mallory"}
    if sender != "coop":
        attempt = first  # another platform may not even repeat it
    response = service.post_batch(batch([attempt], platform=sender), platform=sender)
    assert response.status_code == 409, response.text
    assert response.json()["problems"][0]["index"] == 0
    assert service.post_batch(batch([first])).status_code == 200  # the true redelivery is still fine
    if stream == "audit":
        [row] = stored(service, rid)
        assert row["actor_account_id"] == first["actor_account_id"]
    health = httpx.get(f"{service.url}/health", timeout=10).json()
    assert health["ingest"]["rewrites_refused"] >= 1


# --- any body: 2xx or 4xx, and the reads keep working ---

_NASTY = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1), st.floats(allow_nan=False),
    st.text(max_size=40), st.sampled_from(["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "", "²", "⁰⁴⁵"]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
)  # fmt: skip
_FIELDS = st.sampled_from(
    ["event_time", "duration_ms", "status", "action", "outcome", "details", "event_id", "route", "admin_operation",
     "client_ip", "user_agent", "stream", "page", "referrer_host"]
)  # fmt: skip


@st.composite
def bodies(draw: st.DrawFn) -> Any:
    """Mostly batches near the valid ones (so that some are accepted), some arbitrary JSON."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.recursive(_NASTY, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
            st.text(max_size=8), inner, max_size=3), max_leaves=8))  # fmt: skip
    events = []
    for _ in range(draw(st.integers(1, 3))):
        event = draw(st.sampled_from([
            lambda: now_wire(), lambda: view("203.0.113.9", CHROME, page="/p/{id}"),
            lambda: consent_wire(str(uuid.uuid4()), 0, event_time=time.time_ns() // 1_000_000),
        ]))()  # fmt: skip
        for field, value in draw(st.dictionaries(_FIELDS, _NASTY, max_size=2)).items():
            event[field] = value
        events.append(event)
    return batch(events)


READS = ["/v1/audit/events", "/v1/audit/events?platform=coop", "/v1/usage/summary", "/v1/usage/summary?platform=coop"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies())
def test_any_json_body_is_2xx_or_4xx_and_the_reads_stay_200(service: Service, body: Any) -> None:
    response = post(service, json.dumps(body).encode(), **{"Content-Type": "application/json"})
    assert response.status_code < 500, response.text
    assert 200 <= response.status_code < 300 or 400 <= response.status_code < 500
    if response.status_code == 200:
        auth = {"Authorization": f"Bearer {service.reader}"}
        for path in READS:
            read = httpx.get(service.url + path, headers=auth, timeout=30)
            assert read.status_code == 200, (path, read.text)


def test_the_shipper_dead_letters_only_the_events_a_409_names(service: Service, tmp_path: Any) -> None:
    """A rewrite refused in a batch: the platform's recorder keeps the batch's other events."""
    from ccaudit.shipping.recorder import Recorder
    from ccaudit.shipping.spool import Spool
    from ccaudit.shipping.transport import HttpTransport

    stored = now_wire(request_id=f"first-{uuid.uuid4()}")
    assert service.post_batch(batch([stored])).status_code == 200
    rewrite = json.dumps({**stored, "actor_account_id": "mallory"})
    neighbour_id = f"neighbour-{uuid.uuid4()}"
    neighbour = json.dumps(now_wire(request_id=neighbour_id))
    spool = Spool(tmp_path / "spool.sqlite3")
    spool.put([neighbour, rewrite])
    recorder = Recorder(HttpTransport(service.url, token=service.ingest_token()), platform="coop", spool=spool,
                        flush_interval=0.05)  # fmt: skip
    try:
        assert recorder.force_flush(30)
    finally:
        recorder.shutdown(5)
    assert [e["request_id"] for e in stored_rows(service, neighbour_id)] == [neighbour_id]
    [(_, event_id, reason, _, _)] = spool.dead_letters()
    assert event_id == stored["event_id"]
    assert "never rewritten" in reason


def stored_rows(service: Service, request_id: str) -> list[dict[str, Any]]:
    return service.events(request_id=request_id)
