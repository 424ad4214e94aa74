"""Any input to a read route of a real service process: 200, a 400 naming the parameter, or a 404
where the route says so; never a 5xx, and never the engine's or Python's internal text.

Finding 4 of issue 12 listed a sample (``limit=²``, ``top=⁰⁴⁵``, year 1 at +01:00, 9999 at -05:00, a
cursor in year 1 or past any year, 100,000 ``[`` in a token request); the properties below draw from
each class: digits of other scripts and huge numbers, times and days at and beyond the engine's range
with any offset, cursors of any number, arbitrary text and raw query strings, any body.
"""

from __future__ import annotations

import base64
import json
import string
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ccaudit.ids import new_id
from tests.conftest import Service
from tests.ingest.test_pipeline import batch, wire

pytestmark = pytest.mark.e2e

# Text that only the engine, the driver or Python's error machinery writes.
INTERNALS = ("DB::Exception", "Code:", "clickhouse", "Traceback", "Internal Server Error", "chdb", 'File "')
PROPERTY = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def auth(service: Service) -> dict[str, str]:
    return {"Authorization": f"Bearer {service.reader}"}


def admin(service: Service) -> dict[str, str]:
    """The bootstrap credential: it makes and lists tokens, and reads nothing."""
    return {"Authorization": f"Bearer {service.token}"}


def headers_for(service: Service, path: str) -> dict[str, str]:
    """A credential allowed on ``path``: the DPO's for consent, the bootstrap's for tokens, else an auditor's."""
    if path.startswith("/v1/consent/"):
        return {"Authorization": f"Bearer {service.personal_token('dpo')}"}
    if path.startswith("/v1/admin/"):
        return admin(service)
    return auth(service)


def assert_answers_cleanly(response: httpx.Response, allowed: set[int], sent: str) -> None:
    """A status in ``allowed`` and no internal text (unless the client sent that text itself)."""
    assert response.status_code in allowed, (response.status_code, response.text[:500])
    body = response.text.lower()
    for marker in INTERNALS:
        if marker.lower() not in sent.lower():
            assert marker.lower() not in body, response.text[:500]
    if response.status_code == 400:
        assert "error" in response.json()


# --- what clients send ---

OTHER_DIGITS = st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=6)
integers = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    OTHER_DIGITS,
    st.sampled_from(["²", "⁰⁴⁵", "١٢", "\uff11\uff10", "+5", " 5", "5 ", "1_0", "0x10", "1e3", "", "9" * 5000, "-0"]),
    st.text(max_size=12),
)
offsets = st.timedeltas(min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59)).map(
    lambda d: timezone(timedelta(minutes=int(d.total_seconds() // 60)))
)
BOUNDARY_TIMES = [
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00", "1899-12-31T23:59:59Z",
    "1900-01-01T00:00:00Z", "1969-12-31T23:59:59.999Z", "1970-01-01T00:00:00Z", "1970-01-01T00:00:00+00:01",
    "2100-01-01T00:00:00Z", "2099-12-31T23:00:00-05:00", "2149-06-07T00:00:00Z", "2299-12-31T23:59:59.999Z",
    # fixed date: the last three are parser inputs only (ISO forms), never stored or read against a clock
    "2300-01-01T00:00:00Z", "2026-11-29T10:00:00.1234567Z", "2026-W48-7", "20261129T100000Z",
]  # fmt: skip
times = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.none() | offsets).map(
        lambda t: t.isoformat()
    ),
    st.sampled_from(BOUNDARY_TIMES),
    st.text(max_size=40),
)
BOUNDARY_DAYS = ["0001-01-01", "1899-12-31", "1900-01-01", "1969-12-31", "1970-01-01", "2099-12-31", "2100-01-01",
                 "2149-06-06", "2149-06-07", "2299-12-31", "2300-01-01", "9999-12-31", "2026-W01-1", "20260101"]  # fmt: skip
days = st.one_of(
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(date.isoformat),
    st.sampled_from(BOUNDARY_DAYS),
    st.text(max_size=20),
)


def _cursor(ms: str, event_id: str) -> str:
    return base64.urlsafe_b64encode(f"{ms}:{event_id}".encode()).decode().rstrip("=")


cursors = st.one_of(
    st.builds(
        _cursor,
        st.one_of(st.integers(-(10**40), 10**40).map(str), OTHER_DIGITS, st.sampled_from(["-62135596800000", ""])),
        st.one_of(st.uuids().map(str), st.text(max_size=40)),
    ),
    st.text(max_size=100),
    st.text(string.ascii_letters + string.digits + "-_=", max_size=300),
)
texts = st.text(max_size=300)
unknown_names = st.text(min_size=1, max_size=12)

AUDIT_PARAMS = st.fixed_dictionaries(
    {},
    optional={
        "limit": integers, "since": times, "until": times, "cursor": cursors, "outcome": texts,
        "platform": texts, "organisation": texts, "actor": texts, "subject": texts, "action": texts,
        "request_id": texts,
    },
)  # fmt: skip
USAGE_PARAMS = st.fixed_dictionaries(
    {},
    optional={"top": integers, "since": days, "until": days, "platform": texts, "page": texts, "referrer": texts},
)
raw_queries = st.text(max_size=200).map(lambda t: urllib.parse.quote(t, safe="=&%+;"))


def with_unknown(params: st.SearchStrategy[dict[str, str]]) -> st.SearchStrategy[dict[str, str]]:
    return st.one_of(params, st.tuples(params, unknown_names, texts).map(lambda p: {**p[0], p[1]: p[2]}))


# --- the service, with rows to read and a cursor it made ---


@dataclass
class Reader:
    """The shared service, a kept-alive client to it with the admin token, and a cursor it made."""

    service: Service
    client: httpx.Client
    cursor: str


@pytest.fixture(scope="module")
def reader(service: Service) -> Iterator[Reader]:
    """Two audit events stored in the shared service, so that reads find rows, and a real cursor."""
    request_id = f"read-inputs-{new_id()}"
    assert (
        service.post_batch(batch([wire(1, request_id=request_id), wire(2, request_id=request_id)])).status_code == 200
    )
    with httpx.Client(base_url=service.url, headers=auth(service), timeout=30) as client:
        page = client.get("/v1/audit/events", params={"request_id": request_id, "limit": "1"})
        assert page.status_code == 200, page.text
        yield Reader(service, client, page.json()["next_cursor"])


# --- the listed sample, each a class the properties below draw from ---


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/v1/audit/events", {"limit": "²"}, "limit"),
        ("/v1/audit/events", {"limit": "١٢"}, "limit"),  # int() takes it; a parameter does not
        ("/v1/audit/events", {"limit": "9" * 5000}, "limit"),
        ("/v1/usage/summary", {"top": "⁰⁴⁵"}, "top"),
        ("/v1/audit/events", {"since": "0001-01-01T00:00:00+01:00"}, "since"),
        ("/v1/audit/events", {"until": "9999-12-31T23:59:59-05:00"}, "until"),
        ("/v1/audit/events", {"since": "0001-01-01T00:00:00"}, "since"),
        ("/v1/audit/events", {"since": "2099-12-31T23:00:00-05:00"}, "since"),  # past the window in UTC
        ("/v1/audit/events", {"cursor": _cursor("-62135596800000", str(uuid.uuid4()))}, "cursor"),  # year 1
        ("/v1/audit/events", {"cursor": _cursor("9" * 20, str(uuid.uuid4()))}, "cursor"),
        ("/v1/audit/events", {"cursor": _cursor("9" * 5000, str(uuid.uuid4()))}, "cursor"),
        ("/v1/usage/summary", {"since": "9999-12-31", "until": "9999-12-31"}, "until"),
        ("/v1/usage/summary", {"since": "2149-06-07", "until": "2149-06-08"}, "until"),  # Date would saturate
        ("/v1/usage/summary", {"since": "1900-01-01", "until": "1900-01-05"}, "until"),
    ],
)
def test_each_listed_input_is_a_400_naming_its_parameter(
    reader: Reader, path: str, params: dict[str, str], named: str
) -> None:
    response = reader.client.get(path, params=params)
    assert response.status_code == 400, response.text[:300]
    assert response.json()["error"].startswith(named + ":")
    assert_answers_cleanly(response, {400}, json.dumps(params))


def test_the_window_is_named_and_its_edges_are_read(reader: Reader) -> None:
    refused = reader.client.get("/v1/audit/events", params={"since": "1969-12-31T23:59:59Z"})
    assert "1970-01-01T00:00:00Z to 2100-01-01T00:00:00Z" in refused.json()["error"]
    edges = {"since": "1970-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z", "cursor": reader.cursor}
    assert reader.client.get("/v1/audit/events", params=edges).status_code == 200
    span = {"since": "2099-01-01", "until": "2099-12-31"}
    assert reader.client.get("/v1/usage/summary", params=span).status_code == 200
    assert (
        reader.client.get("/v1/usage/summary", params={"until": "1970-01-05"}).json()["since"] == "1970-01-01"
    )  # the default range starts inside the window


def test_a_cursor_of_a_row_the_engine_holds_outside_the_window_is_taken(reader: Reader) -> None:
    # Pages may follow rows stored before ingest had a window: any time DateTime64(3) holds is a cursor.
    for moment in (datetime(1900, 1, 1, tzinfo=UTC), datetime(2299, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)):
        cursor = _cursor(str(int(moment.timestamp() * 1000)), str(uuid.uuid4()))
        answer = reader.client.get("/v1/audit/events", params={"cursor": cursor})
        assert answer.status_code == 200, answer.text


# --- the properties ---


@PROPERTY
@given(params=with_unknown(AUDIT_PARAMS))
@example(params={"limit": "²", "since": "0001-01-01T00:00:00"})
def test_audit_search_never_fails_on_input(reader: Reader, params: dict[str, str]) -> None:
    response = reader.client.get("/v1/audit/events", params=params)
    assert_answers_cleanly(response, {200, 400}, json.dumps(params))


@PROPERTY
@given(params=with_unknown(USAGE_PARAMS))
@example(params={"since": "9999-12-31"})
def test_usage_summary_never_fails_on_input(reader: Reader, params: dict[str, str]) -> None:
    response = reader.client.get("/v1/usage/summary", params=params)
    assert_answers_cleanly(response, {200, 400}, json.dumps(params))


@PROPERTY
@given(
    path=st.sampled_from(
        ["/v1/audit/events", "/v1/usage/summary", "/v1/admin/tokens", "/health", "/v1/register", "/v1/openapi.json"]
    ),
    query=raw_queries,
)
def test_raw_query_strings_never_fail(reader: Reader, path: str, query: str) -> None:
    response = reader.client.get(f"{path}?{query}", headers=headers_for(reader.service, path))
    assert_answers_cleanly(response, {200, 400}, urllib.parse.unquote(query))


@PROPERTY
@given(consent_id=st.one_of(st.uuids().map(str), st.text(min_size=1, max_size=60)))
@example(consent_id="0/")
def test_consent_history_never_fails_on_input(reader: Reader, consent_id: str) -> None:
    path = f"/v1/consent/{urllib.parse.quote(consent_id, safe='')}"
    response = reader.client.get(path, headers=headers_for(reader.service, path))
    # An id ending in '/' (sent as %2F) is the route's path with a trailing slash: Starlette redirects.
    assert_answers_cleanly(response, {200, 307, 400, 404}, consent_id)


@PROPERTY
@given(platform=texts)
def test_token_listing_never_fails_on_input(reader: Reader, platform: str) -> None:
    response = reader.client.get("/v1/admin/tokens", params={"platform": platform}, headers=admin(reader.service))
    assert_answers_cleanly(response, {200}, platform)


# --- bodies of the admin routes ---

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
# Never a JSON object with a string "platform": that would make tokens in the shared service.
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.filter(lambda v: not (isinstance(v, dict) and isinstance(v.get("platform"), str))).map(
        lambda v: json.dumps(v).encode()
    ),
    st.integers(1, 200_000).map(lambda n: b"[" * n),
    st.integers(1, 200_000).map(lambda n: b'{"platform":' * n),
)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"[" * 100_000, 413),  # the sample: past the size limit before its depth matters
        (b"[" * 10_000, 400),  # within the size limit, too deep
        (b"[" * 1025 + b"]" * 1025, 400),
        (b'{"platform": "' + b"a" * 20_000 + b'"}', 413),
    ],
)
def test_a_deep_or_large_token_request_is_refused_and_named(reader: Reader, body: bytes, status: int) -> None:
    response = reader.client.post("/v1/admin/tokens", content=body, headers=admin(reader.service))
    assert response.status_code == status, response.text[:300]
    assert response.json()["error"].startswith("body:")
    assert_answers_cleanly(response, {status}, "")


@PROPERTY
@given(body=bodies, path=st.sampled_from(["/v1/admin/tokens", "/v1/admin/tokens/rotate"]))
def test_token_requests_never_fail_on_their_body(reader: Reader, body: bytes, path: str) -> None:
    response = reader.client.post(path, content=body, headers=admin(reader.service))
    assert_answers_cleanly(response, {400, 413}, body.decode("utf-8", "replace"))
