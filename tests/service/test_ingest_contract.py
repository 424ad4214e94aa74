"""The ingest API's contract for bad input, over real HTTP against ``ccaudit serve`` processes.

Each bad request carries audit events of its own (with request ids of their own): none of them may be
stored. A good batch sent right before and right after each bad one must be stored, once.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ccaudit.ids import new_id
from tests.conftest import Service, wait_until
from tests.faults.harness import ServiceProcess
from tests.ingest.test_pipeline import batch, wire

pytestmark = pytest.mark.e2e

MAX_BODY = 16 * 1024 * 1024


def _rid(tag: str) -> str:
    return f"{tag}-{new_id()}"


def _now_wire(request_id: str, **fields: Any) -> dict[str, Any]:
    # Now rather than a fixed date: nothing here should depend on retention.
    now = {"event_id": new_id(), "event_time": time.time_ns() // 1_000_000, "request_id": request_id}
    return wire(0, **{**now, **fields})


def _headers(token: str | None, **extra: str) -> dict[str, str]:
    headers = {"Content-Type": "application/json", **extra}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _stored(service: Service, request_id: str) -> int:
    return len(service.events(request_id=request_id))


def _alongside(service: Service, bad: Callable[[], httpx.Response], bad_ids: list[str]) -> httpx.Response:
    """Send a good batch, the bad request, a good batch; the good ones stored once, the bad one not at all."""
    before, after = _rid("good"), _rid("good")
    assert service.post_batch(batch([_now_wire(before)])).status_code == 200
    response = bad()
    assert service.post_batch(batch([_now_wire(after)])).status_code == 200
    wait_until(lambda: _stored(service, after) == 1, timeout=10)
    assert (_stored(service, before), _stored(service, after)) == (1, 1)
    assert {rid: _stored(service, rid) for rid in bad_ids} == dict.fromkeys(bad_ids, 0)
    return response


def _envelope_bytes(events: list[dict[str, Any]], padding: int = 0, platform: str = "coop") -> bytes:
    body = json.dumps(batch(events, platform)).encode()
    return body[:-1] + b" " * padding + b"}"  # whitespace: still valid JSON, just large


# --- size ---


def test_an_oversized_body_is_413(service: Service) -> None:
    rid = _rid("big")
    body = _envelope_bytes([_now_wire(rid)], padding=MAX_BODY)
    response = _alongside(
        service,
        lambda: httpx.post(service.url + "/v1/events", content=body, headers=_headers(service.ingest_token()),
                           timeout=60),
        [rid],
    )  # fmt: skip
    assert response.status_code == 413
    assert "larger than" in response.json()["error"]


def test_an_oversized_chunked_body_without_length_is_413(service: Service) -> None:
    rid = _rid("chunked")
    body = _envelope_bytes([_now_wire(rid)], padding=MAX_BODY)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 1 << 20):
            yield body[start : start + (1 << 20)]

    def send() -> httpx.Response:
        return httpx.post(service.url + "/v1/events", content=chunks(), headers=_headers(service.ingest_token()),
                          timeout=60)  # fmt: skip

    response = _alongside(service, send, [rid])
    assert response.status_code == 413


def test_a_gzip_bomb_is_413(service: Service) -> None:
    rid = _rid("bomb")
    bomb = gzip.compress(_envelope_bytes([_now_wire(rid)], padding=64 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 1024 * 1024  # small on the wire, 64 MiB once inflated
    headers = _headers(service.ingest_token(), **{"Content-Encoding": "gzip"})
    response = _alongside(
        service, lambda: httpx.post(service.url + "/v1/events", content=bomb, headers=headers, timeout=60), [rid]
    )
    assert response.status_code == 413


# --- malformed and invalid ---


def test_malformed_json_is_400(service: Service) -> None:
    rid = _rid("malformed")
    body = _envelope_bytes([_now_wire(rid)])[:-20]  # cut short
    response = _alongside(
        service,
        lambda: httpx.post(service.url + "/v1/events", content=body, headers=_headers(service.ingest_token())),
        [rid],
    )
    assert response.status_code == 400
    assert "malformed JSON" in response.json()["error"]


def test_an_undecodable_gzip_body_is_400(service: Service) -> None:
    headers = _headers(service.ingest_token(), **{"Content-Encoding": "gzip"})
    response = httpx.post(service.url + "/v1/events", content=b"not gzip at all", headers=headers)
    assert response.status_code == 400
    assert "unreadable body" in response.json()["error"]


def test_wrong_types_and_unknown_fields_are_400_naming_index_and_reason(service: Service) -> None:
    ids = [_rid("inv") for _ in range(8)]
    events = [
        _now_wire(ids[0]),  # valid, but refused with its batch
        _now_wire(ids[1], status="teapot"),
        _now_wire(ids[2], surprise=True),
        _now_wire(ids[3], event_time="yesterday"),
        _now_wire(ids[4], details={"k": 5}),
        _now_wire(ids[5], admin_operation="maybe"),
        _now_wire(ids[6], stream=["audit"]),  # not even a name: refused, not a 500
        _now_wire(ids[7], stream={"audit": 1}),
    ]
    response = _alongside(service, lambda: service.post_batch(batch(events)), ids)
    assert response.status_code == 400
    problems = {p["index"]: p["reason"] for p in response.json()["problems"]}
    assert sorted(problems) == [1, 2, 3, 4, 5, 6, 7]
    assert problems[1].startswith("audit.status")
    assert "surprise" in problems[2]
    assert "Extra inputs are not permitted" in problems[2]
    assert "event_time" in problems[3]
    assert "details" in problems[4]
    assert "admin_operation" in problems[5]
    assert "stream" in problems[6] or "discriminator" in problems[6]
    # The client resends the good event alone: stored once.
    assert service.post_batch(batch([events[0]])).status_code == 200
    assert _stored(service, ids[0]) == 1


@pytest.mark.parametrize(
    "envelope",
    [
        {"schema_version": "1", "events": []},
        {"schema_version": 1, "batch_id": "not-a-uuid", "platform": "coop", "events": []},
        {"schema_version": 1, "batch_id": new_id(), "platform": "coop", "events": "none"},
        {"schema_version": 1, "batch_id": new_id(), "platform": "coop", "events": [], "extra": 1},
        [],
    ],
)
def test_a_bad_envelope_is_400(service: Service, envelope: Any) -> None:
    response = service.post_batch(envelope)
    assert response.status_code == 400
    assert response.json()["problems"], response.text


# --- credentials ---


def test_a_token_of_another_platform_is_403(service: Service) -> None:
    rid = _rid("other")
    library_token = service.ingest_token("library")

    def send() -> httpx.Response:
        body = json.dumps(batch([_now_wire(rid)], platform="coop"))
        return httpx.post(service.url + "/v1/events", content=body, headers=_headers(library_token))

    response = _alongside(service, send, [rid])
    assert response.status_code == 403
    assert "library" in response.json()["error"]


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer nonsense", "Basic dXNlcjpwdw==", "Bearer cca_0123456789abcdef_" + "x" * 43],
)
def test_no_or_a_bad_token_is_401(service: Service, authorization: str | None) -> None:
    rid = _rid("anon")
    headers = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    body = json.dumps(batch([_now_wire(rid)]))
    response = _alongside(service, lambda: httpx.post(service.url + "/v1/events", content=body, headers=headers),
                          [rid])  # fmt: skip
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_revoked_token_is_401(service: Service) -> None:
    admin = {"Authorization": f"Bearer {service.token}"}
    made = httpx.post(service.url + "/v1/admin/tokens", json={"platform": "coop"}, headers=admin)
    assert made.status_code == 201
    token, token_id = made.json()["token"], made.json()["token_id"]
    works = _rid("pre-revoke")
    body = json.dumps(batch([_now_wire(works)]))
    assert httpx.post(service.url + "/v1/events", content=body, headers=_headers(token)).status_code == 200
    assert httpx.delete(f"{service.url}/v1/admin/tokens/{token_id}", headers=admin).status_code == 200
    refused = _rid("revoked")
    body = json.dumps(batch([_now_wire(refused)]))
    response = _alongside(
        service, lambda: httpx.post(service.url + "/v1/events", content=body, headers=_headers(token)), [refused]
    )
    assert response.status_code == 401
    assert _stored(service, works) == 1


# --- rate limit and token rotation: a service of their own with small limits ---


@pytest.fixture(scope="module")
def strict_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """``ccaudit serve`` with a batch per 4 s per token (burst 2) and a 5-second grace for rotated tokens.
    The slow rate keeps a bucket from refilling between the test's three quick posts on a loaded machine."""
    process = ServiceProcess(
        Path(tmp_path_factory.mktemp("strict")),
        CCAUDIT_INGEST_RATE="0.25",
        CCAUDIT_INGEST_BURST="2",
        CCAUDIT_TOKEN_GRACE_SECONDS="5",  # room for the calls made within it, on a slow machine
    )
    yield process.start()
    process.stop()


def _post_with(service: Service, token: str, events: list[dict[str, Any]], platform: str) -> httpx.Response:
    body = json.dumps(batch(events, platform))
    return httpx.post(service.url + "/v1/events", content=body, headers=_headers(token), timeout=10)


def test_over_the_rate_is_429_with_retry_after(strict_service: Service) -> None:
    token = strict_service.ingest_token("rated")
    ids = [_rid("rate") for _ in range(3)]
    answers = [_post_with(strict_service, token, [_now_wire(rid)], "rated") for rid in ids]
    codes = [a.status_code for a in answers]
    assert codes == [200, 200, 429]
    wait = int(answers[2].headers["Retry-After"])
    assert 1 <= wait <= 4
    assert _stored(strict_service, ids[2]) == 0
    # Honouring Retry-After, the refused batch goes through; nothing of the others is lost.
    time.sleep(wait)
    assert _post_with(strict_service, token, [_now_wire(ids[2])], "rated").status_code == 200
    assert [_stored(strict_service, rid) for rid in ids] == [1, 1, 1]
    # Another token has a bucket of its own.
    other = strict_service.ingest_token("rated-other")
    assert _post_with(strict_service, other, [], "rated-other").status_code == 200


def test_a_rotated_token_works_during_the_grace_period_only(strict_service: Service) -> None:
    admin = {"Authorization": f"Bearer {strict_service.token}"}
    url = strict_service.url + "/v1/admin/tokens"
    old = httpx.post(url, json={"platform": "rotating"}, headers=admin).json()["token"]
    rotated = httpx.post(url + "/rotate", json={"platform": "rotating"}, headers=admin)
    assert rotated.status_code == 201
    new = rotated.json()["token"]
    in_grace = _rid("grace")
    assert _post_with(strict_service, old, [_now_wire(in_grace)], "rotating").status_code == 200
    assert _post_with(strict_service, new, [_now_wire(_rid("new"))], "rotating").status_code == 200

    def old_refused() -> bool:
        return _post_with(strict_service, old, [], "rotating").status_code == 401

    wait_until(old_refused, timeout=20, interval=0.5)
    late = _rid("late")
    assert _post_with(strict_service, old, [_now_wire(late)], "rotating").status_code == 401
    time.sleep(1.1)  # the new token's bucket
    assert _post_with(strict_service, new, [_now_wire(_rid("still"))], "rotating").status_code == 200
    assert (_stored(strict_service, in_grace), _stored(strict_service, late)) == (1, 0)
