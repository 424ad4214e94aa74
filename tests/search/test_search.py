"""Searching the trail through the API, in-process on the real engine: each filter, the search box,
the detail view, the streamed export, and the access stream that records them."""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any

import httpx
import pytest

from ccaudit.search import Filters, parse_box, parse_filters, search
from ccaudit.search.reads import event_detail
from tests.search.world import EVENTS, World, request_ids
from tests.service.test_observability import call


@pytest.fixture(scope="module")
def world(chdb_client: Any) -> World:
    from ccaudit.store import Store

    store = Store(chdb_client, f"search_{uuid.uuid4().hex[:10]}")
    store.migrate()
    return World(store)


def found(world: World, headers: dict[str, str] | None = None, **params: str) -> list[str]:
    response = call(world.app, "GET", "/v1/audit/events", params=params, headers=headers or world.auditor)
    assert response.status_code == 200, response.text
    return sorted(request_ids(response.json()["events"]))


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"actor": "anna"}, ["req-1", "req-1", "req-5"]),
        ({"subject": "s-1"}, ["req-1", "req-6"]),
        ({"action": "person.*"}, ["req-1", "req-1", "req-6"]),
        ({"action": "person*"}, ["req-1", "req-1", "req-3", "req-6"]),
        ({"action": "person.view"}, ["req-6"]),
        ({"resource_type": "person", "resource_id": "p-2"}, ["req-1"]),
        ({"outcome": "denied"}, ["req-1"]),
        ({"status": "403"}, ["req-1"]),
        ({"ip": "10.0.0.0/8"}, ["req-1", "req-1", "req-6"]),
        ({"ip": "10.1.2.3"}, ["req-1"]),
        ({"ip": "2001:db8::/32"}, ["req-4"]),
        ({"ip": "2001:0db8:0:0::1"}, ["req-4"]),
        ({"request_id": "req-1"}, ["req-1", "req-1"]),
        ({"trace_id": "a" * 32}, ["req-1", "req-1"]),
        ({"text": "e-MAIL"}, ["req-1"]),
        ({"text": "100%"}, ["req-4"]),
        ({"text": "0%"}, ["req-4"]),
        ({"text": "_"}, ["req-4"]),
        ({"text": "%"}, ["req-4"]),
        ({"platform": "library"}, ["req-5", "req-6"]),
        ({"organisation": "org-b"}, ["req-4", "req-5"]),
        ({"q": 'actor:anna action:person.* ip:10.0.0.0/8 "e-mail"'}, ["req-1"]),
        ({"q": "org:org-b platform:coop"}, ["req-4"]),
        ({"q": "status:403 outcome:denied request:req-1 trace:" + "a" * 32}, ["req-1"]),
        ({"q": "resource:person resource_id:p-1 subject:s-1"}, ["req-1"]),
        ({"q": "hyperlink"}, ["req-3"]),
        ({"q": 'actor:"bert"', "ip": "192.168.0.0/16"}, ["req-3"]),
    ],
)
def test_each_filter_finds_exactly_its_events(world: World, params: dict[str, str], expected: list[str]) -> None:
    assert found(world, **params) == expected


def test_time_filters_and_created_qualifiers_agree(world: World) -> None:
    times = {e["request_id"]: e["event_time"] for p, e in EVENTS}
    from tests.conftest import iso_ms

    third = iso_ms(times["req-3"])
    assert found(world, since=third) == ["req-3", "req-4", "req-5", "req-6"]
    assert found(world, q=f"created:>={third}") == ["req-3", "req-4", "req-5", "req-6"]
    assert found(world, q=f"created:>{third}") == ["req-4", "req-5", "req-6"]
    assert found(world, q=f"created:<{third}") == ["req-1", "req-1"]
    assert found(world, q=f"created:<={third}") == ["req-1", "req-1", "req-3"]
    day = third[:10]
    assert len(found(world, q=f"created:{day}")) + len(found(world, q=f"created:<{day}")) + len(
        found(world, q=f"created:>{day}")
    ) == len(EVENTS)
    assert found(world, q=f"created:{day}..{day}") == found(world, q=f"created:{day}")


def test_pages_are_newest_first_and_keyset_paginated(world: World) -> None:
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        body = call(world.app, "GET", "/v1/audit/events", params=params, headers=world.auditor).json()
        seen.extend(e["event_time"] for e in body["events"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(EVENTS)
    assert seen == sorted(seen, reverse=True)


def test_an_org_admin_searches_its_own_organisations_only(world: World) -> None:
    assert found(world, world.org_admin) == ["req-1", "req-1", "req-3", "req-6"]
    assert found(world, world.org_admin, q="org:org-b") == []
    assert found(world, world.org_admin, organisation="org-b") == []


@pytest.mark.parametrize(
    ("q", "position", "qualifier"),
    [
        ("actor:anna ip:10.0.0.0/33", 11, "ip:10.0.0.0/33"),
        ("created:>=2026-13-01", 0, "created:>=2026-13-01"),
        ('actor:anna "unclosed', 11, '"unclosed'),
        ("colour:red", 0, "colour:red"),
        ("status:99", 0, "status:99"),
        ("outcome:maybe", 0, "outcome:maybe"),
        ("actor:", 0, "actor:"),
        ("action:a*b", 0, "action:a*b"),
        ("actor:a actor:b", 8, "actor:b"),
    ],
)
def test_a_bad_qualifier_is_pointed_at(world: World, q: str, position: int, qualifier: str) -> None:
    response = call(world.app, "GET", "/v1/audit/events", params={"q": q}, headers=world.auditor)
    assert response.status_code == 400
    body = response.json()
    assert (body["position"], body["qualifier"]) == (position, qualifier)
    assert body["error"].startswith(f"q: at character {position + 1}")


def test_a_filter_given_as_a_parameter_and_in_the_box_is_refused(world: World) -> None:
    response = call(world.app, "GET", "/v1/audit/events", params={"q": "actor:a", "actor": "b"}, headers=world.auditor)
    assert response.status_code == 400
    assert response.json()["error"].startswith("actor:")


def test_the_detail_has_every_field_and_links_that_find_the_related_events(world: World) -> None:
    event_id = str(uuid.UUID(int=2, version=4))  # req-1, the first of the two
    response = call(world.app, "GET", f"/v1/audit/events/{event_id}", headers=world.auditor)
    assert response.status_code == 200, response.text
    body = response.json()
    from ccaudit.store.audit import COLUMNS

    assert set(body["event"]) == set(COLUMNS)
    assert set(body["links"]) == {"same_request", "same_trace", "actor_that_day", "this_subject"}
    related = {name: found(world, **dict(httpx.QueryParams(query))) for name, query in body["links"].items()}
    assert related["same_request"] == related["same_trace"] == ["req-1", "req-1"]
    assert related["this_subject"] == ["req-1", "req-6"]
    # anna's events that day: both of req-1, and req-5 unless midnight fell between them.
    assert related["actor_that_day"] in (["req-1", "req-1"], ["req-1", "req-1", "req-5"])


def test_a_detail_outside_the_principals_bounds_is_not_found(world: World) -> None:
    org_b = str(uuid.UUID(int=5, version=4))  # req-4, organisation org-b
    assert call(world.app, "GET", f"/v1/audit/events/{org_b}", headers=world.org_admin).status_code == 404
    assert call(world.app, "GET", f"/v1/audit/events/{org_b}", headers=world.auditor).status_code == 200
    assert call(world.app, "GET", "/v1/audit/events/not-a-uuid", headers=world.auditor).status_code == 400


def export(world: World, headers: dict[str, str] | None = None, **params: str) -> httpx.Response:
    response = call(world.app, "GET", "/v1/audit/export", params=params, headers=headers or world.auditor)
    assert response.status_code == 200, response.text
    return response


def test_the_csv_export_has_a_header_escapes_and_defuses_formulas(world: World) -> None:
    response = export(world, format="csv", actor="bert")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["request_id"] for r in rows] == ["req-4", "req-3"]
    details = json.loads(rows[1]["details"])
    assert details == {"query": '=HYPERLINK("http://x")', "comma": 'a,b"c'}
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row.values())


def test_the_jsonl_export_is_the_search_in_full_and_bounded_like_it(world: World) -> None:
    lines = export(world, world.org_admin, format="jsonl").text.splitlines()
    events = [json.loads(line) for line in lines]
    assert sorted(e["request_id"] for e in events) == found(world, world.org_admin)
    assert {e["organisation"] for e in events} == {"org-a"}
    bad = call(world.app, "GET", "/v1/audit/export", params={"format": "xlsx"}, headers=world.auditor)
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("format:")


def access(world: World, **params: str) -> list[dict[str, Any]]:
    response = call(world.app, "GET", "/v1/access/events", params=params, headers=world.dpo)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def test_every_read_is_in_the_access_stream_with_its_filters_and_rows(world: World) -> None:
    found(world, world.org_admin, q="actor:anna")
    event_id = str(uuid.UUID(int=7, version=4))  # req-6, organisation org-a
    call(world.app, "GET", f"/v1/audit/events/{event_id}", headers=world.org_admin)
    export(world, world.org_admin, format="jsonl", actor="anna")
    records = access(world, kind="export") + access(world, kind="detail") + access(world, kind="search")
    mine = [r for r in records if r["account_id"] and r["role"] == "org_admin"]
    search_record = next(r for r in mine if r["kind"] == "search" and json.loads(r["filters"]) == {"actor": "anna"})
    assert (search_record["rows"], search_record["route"]) == (2, "GET /v1/audit/events")
    assert search_record["principal"].startswith("personal_token:")
    detail = next(r for r in mine if r["kind"] == "detail" and event_id in r["filters"])
    assert detail["rows"] == 1
    exports = [r for r in mine if r["kind"] == "export" and json.loads(r["filters"]) == {"actor": "anna"}]
    assert {(r["complete"], r["rows"]) for r in exports} == {(False, 0), (True, 2)}
    assert len({r["access_id"] for r in exports}) == 1
    newest_first = [r["event_time"] for r in access(world)]
    assert newest_first == sorted(newest_first, reverse=True)


def test_reading_the_access_stream_is_recorded_too(world: World) -> None:
    access(world, kind="search")
    readings = [r for r in access(world, kind="access_log") if r["role"] == "dpo"]
    assert any(json.loads(r["filters"]) == {"kind": "search"} for r in readings)
    assert {r["route"] for r in readings} == {"GET /v1/access/events"}


def test_only_the_dpo_reads_the_access_stream(world: World) -> None:
    assert call(world.app, "GET", "/v1/access/events", headers=world.auditor).status_code == 403
    assert call(world.app, "GET", "/v1/access/events", params={"kind": "x"}, headers=world.dpo).status_code == 400


def test_a_read_whose_access_record_cannot_be_stored_is_refused(chdb_client: Any) -> None:
    from ccaudit.store import Store

    store = Store(chdb_client, f"search_{uuid.uuid4().hex[:10]}")
    store.migrate()
    world = World(store)
    store.client.command(f"DROP TABLE {store.database}.access_events")
    for path, params in (("/v1/audit/events", {}), ("/v1/audit/export", {"format": "csv"}),
                         (f"/v1/audit/events/{uuid.UUID(int=1, version=4)}", {})):  # fmt: skip
        response = call(world.app, "GET", path, params=params, headers=world.auditor)
        assert response.status_code == 503, (path, response.text)
        assert "req-" not in response.text


def test_the_query_layer_is_what_the_console_calls(world: World) -> None:
    from ccaudit.access.principal import account_principal
    from ccaudit.access.roles import Role

    auditor = account_principal("console-auditor", Role.AUDITOR, frozenset())
    page = search(world.store, auditor, parse_filters({"q": "actor:anna"}), limit=2, route="console /console/search")
    assert len(page.events) == 2
    assert page.next_cursor is not None
    assert parse_box("actor:anna") == Filters(actor="anna")
    detail = event_detail(world.store, auditor, uuid.UUID(int=2, version=4), route="console /console/events")
    assert detail is not None
    assert detail["event"]["request_id"] == "req-1"


def test_an_export_streams_every_row_in_many_chunks(chdb_client: Any) -> None:
    """Thirty thousand events made inside the engine, exported through the app: every row once, in order,
    in chunks (the response is streamed, not built whole)."""
    from ccaudit.search.export import CHUNK_ROWS
    from ccaudit.store import Store

    store = Store(chdb_client, f"search_{uuid.uuid4().hex[:10]}")
    store.migrate()
    world = World(store)
    count = 30_000
    store.client.command(
        f"INSERT INTO {store.database}.audit_events (event_id, event_time, received_at, platform, organisation, "
        "action, outcome, request_id, details, retention_days) "
        "SELECT generateUUIDv4(number), now64(3) - toIntervalSecond(number), now64(3), 'bulk', 'org-bulk', "
        "'bulk.export', 'success', concat('bulk-', toString(number)), map('n', toString(number)), 730 "
        f"FROM numbers({count})"
    )

    bodies = 0

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        """The app, counting the body messages it sends: a streamed answer sends many."""

        async def counted(message: Any) -> None:
            nonlocal bodies
            bodies += message["type"] == "http.response.body"
            await send(message)

        await world.app(scope, receive, counted)

    response = call(counting, "GET", "/v1/audit/export", params={"format": "jsonl", "platform": "bulk"},
                    headers=world.auditor)  # fmt: skip
    assert response.status_code == 200
    assert bodies >= count // CHUNK_ROWS
    assert [json.loads(line)["request_id"] for line in response.text.splitlines()] == [
        f"bulk-{n}" for n in range(count)
    ]


def test_an_export_over_bursts_gaps_and_future_times_has_every_row_once_in_order(chdb_client: Any) -> None:
    """An export reads a window of time at a time, sized from the last window: a burst of more than a
    page in one millisecond, a year of sparse events, events minutes ahead of the clock and a dense
    last hour all come out once each, newest first."""
    from ccaudit.store import Store

    store = Store(chdb_client, f"search_{uuid.uuid4().hex[:10]}")
    store.migrate()
    world = World(store)
    ages = {
        "burst": "toIntervalDay(3)",  # 12,000 events in one millisecond
        "sparse": "toIntervalDay(number * 8)",  # one every 8 days over 400 days
        "ahead": "toIntervalSecond(-60 - number)",  # a minute ahead of the clock
        "recent": "toIntervalMillisecond(number * 1700)",  # the last hour, dense
    }
    for name, count in (("burst", 12_000), ("sparse", 50), ("ahead", 3), ("recent", 2_000)):
        store.client.command(
            f"INSERT INTO {store.database}.audit_events (event_id, event_time, received_at, platform, organisation, "
            "action, outcome, request_id, retention_days) "
            f"SELECT generateUUIDv4(number), toStartOfSecond(now64(3)) - {ages[name]}, now64(3), 'bulk', "
            f"concat('org-', toString(number % 3)), 'bulk.export', 'success', concat('{name}-', toString(number)), "
            f"730 FROM numbers({count})"
        )
    expected = [
        r[0]
        for r in store.client.query(
            f"SELECT request_id FROM {store.database}.audit_events WHERE platform = 'bulk' "
            "ORDER BY event_time DESC, event_id DESC"
        ).result_rows
    ]
    response = call(world.app, "GET", "/v1/audit/export", params={"format": "jsonl", "platform": "bulk"},
                    headers=world.auditor)  # fmt: skip
    assert response.status_code == 200
    assert [json.loads(line)["request_id"] for line in response.text.splitlines()] == expected
    assert len(expected) == 14_053


@pytest.mark.parametrize("filters", [Filters(actor="sparse-actor"), Filters(platform="sparse")])
def test_pages_of_a_search_over_years_of_sparse_events_have_each_event_once_in_order(
    chdb_client: Any, filters: Filters
) -> None:
    """A search reads windows of time newest first, a week and then wider: events minutes ahead,
    days, months and years back, and several in one millisecond, come page by page, each once."""
    from ccaudit.access.principal import account_principal
    from ccaudit.access.roles import Role
    from ccaudit.store import Store

    store = Store(chdb_client, f"search_{uuid.uuid4().hex[:10]}")
    store.migrate()
    ages = [-120, 0, 0, 0, 43_200, 596_160, 691_200, 2_592_000, 8_640_000, 34_560_000, 129_600_000]  # seconds
    store.client.command(
        f"INSERT INTO {store.database}.audit_events (event_id, event_time, received_at, platform, organisation, "
        "actor_account_id, action, outcome, request_id, retention_days) "
        "SELECT generateUUIDv4(number), toStartOfSecond(now64(3)) - toIntervalSecond({ages:Array(Int64)}[number + 1]), "
        "now64(3), 'sparse', 'org-s', 'sparse-actor', 'sparse.read', 'success', concat('sparse-', toString(number)), "
        f"3000 FROM numbers({len(ages)})",
        parameters={"ages": ages},
    )
    expected = [
        r[0]
        for r in store.client.query(
            f"SELECT request_id FROM {store.database}.audit_events ORDER BY event_time DESC, event_id DESC"
        ).result_rows
    ]
    auditor = account_principal("auditor-1", Role.AUDITOR, frozenset())
    seen: list[str] = []
    cursor = None
    while True:
        page = search(store, auditor, filters, limit=2, cursor=cursor)
        seen += [e["request_id"] for e in page.events]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == expected
    assert len(seen) == len(ages)
