"""The console's audit pages in-process, on the real engine: the search box and the filter form through
ccaudit.search (the bad-input corpus answered with a 4xx page pointing at the value, never a 5xx),
keyset pagination, an event's detail and its related searches, the export, saved searches per account
(CSRF-protected), the DPO's access log showing the console's reads, and a read refused with a page
when its access record cannot be stored. An org_admin never sees another organisation's row, on any
of these pages, whatever the parameters."""

from __future__ import annotations

import csv
import io
import json
import re
import urllib.parse
import uuid
from html import unescape
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from ccaudit.access import AccountStore
from ccaudit.ingest import Ingestor
from ccaudit.settings import Settings
from ccaudit.store import Store
from tests.console.browser import Client
from tests.console.test_console import PASSWORD, Clock, console_app
from tests.ingest.test_pipeline import batch, wire
from tests.search.test_bad_inputs import CORPUS, QUALIFIERS

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
# More of one actor's events than a page holds (50), so the search has an older page.
MANY = 60
FIELDS = ["q", "since", "until", "platform", "organisation", "actor", "subject", "action", "resource_type",
          "resource_id", "outcome", "status", "ip", "request_id", "trace_id", "text"]  # fmt: skip


@pytest.fixture(scope="module")
def world(chdb_client: Any) -> dict[str, Any]:
    store = Store(chdb_client, f"console_search_{uuid.uuid4().hex[:10]}")
    store.migrate()
    accounts = AccountStore(store.client, store.database)
    users = {}
    for who, role, orgs in (("auditor", "auditor", []), ("auditor2", "auditor", []), ("org_admin", "org_admin",
                            ["org-a"]), ("dpo", "dpo", []), ("operator", "operator", [])):  # fmt: skip
        name = f"{who.replace('_', '-')}-{uuid.uuid4().hex[:6]}"
        accounts.create(name, role, orgs, PASSWORD)
        users[who] = name
    ingestor = Ingestor(Settings(), store)
    for platform in ("coop", "library"):
        events = [
            wire(n, organisation=org, request_id=f"{platform}-{org}", subject_id=f"person-{org}", trace_id=TRACE,
                 action="person.update", client_ip=f"10.1.{n}.7", details={"note": f"Moved {org}"})
            for n, org in enumerate(("org-a", "org-b"))
        ]  # fmt: skip
        ingestor.ingest(batch(events, platform=platform))
    many = [wire(100 + n, organisation="org-a" if n % 2 else "org-b", actor_account_id="busy") for n in range(MANY)]
    ingestor.ingest(batch(many))
    return {"store": store, "users": users}


@pytest.fixture(scope="module")
def app(world: dict[str, Any]) -> Starlette:
    return console_app(world["store"], Clock())


def logged_in(app: Starlette, world: dict[str, Any], who: str) -> Client:
    client = Client(app)
    assert client.login(world["users"][who], PASSWORD).status_code == 303
    return client


@pytest.fixture(scope="module")
def admin(world: dict[str, Any], app: Starlette) -> Client:
    """One org_admin session (of org-a) for the property test's many requests."""
    return logged_in(app, world, "org_admin")


def orgs_shown(html: str) -> list[str]:
    return re.findall(r"<td>(org-[ab])</td>", html)


def event_links(html: str) -> list[str]:
    return re.findall(r'href="(/console/events/[^"]+)"', html)


def test_the_search_page_opened_without_parameters_reads_nothing(world: dict[str, Any], app: Starlette) -> None:
    client = logged_in(app, world, "auditor")
    page = client.get("/console/search")
    assert page.status_code == 200
    assert 'id="f-q"' in page.text
    assert orgs_shown(page.text) == []
    assert "/console/export" not in page.text


def test_the_search_box_takes_qualifiers(world: dict[str, Any], app: Starlette) -> None:
    client = logged_in(app, world, "auditor")
    box = "action:person.* ip:10.1.0.0/16 org:org-b moved"
    page = client.get("/console/search", params={"q": box})
    assert page.status_code == 200, page.text
    assert sorted(orgs_shown(page.text)) == ["org-b", "org-b"]  # on coop and library
    page = client.get("/console/search", params={"q": "platform:coop trace:" + TRACE, "organisation": "org-a"})
    assert orgs_shown(page.text) == ["org-a"]


def test_a_bad_qualifier_is_pointed_at_beside_the_box(world: dict[str, Any], app: Starlette) -> None:
    client = logged_in(app, world, "auditor")
    page = client.get("/console/search", params={"q": "actor:anna ip:10.0.0.0/33 moved"})
    assert page.status_code == 400
    assert 'aria-describedby="e-q h-q"' in page.text
    assert 'aria-invalid="true"' in page.text
    error = re.search(r'<span class="error" id="e-q" role="alert">(.*?)</span>\s*</p>', page.text, re.S)
    assert error, page.text
    assert "character 12" in error.group(1)
    assert "<code>ip:10.0.0.0/33</code>" in error.group(1)
    assert "CIDR" in error.group(1)
    # The form keeps what was typed, to correct it.
    assert 'value="actor:anna ip:10.0.0.0/33 moved"' in page.text


def test_a_bad_filter_is_named_on_its_field_with_the_reason(world: dict[str, Any], app: Starlette) -> None:
    client = logged_in(app, world, "auditor")
    page = client.get("/console/search", params={"status": "99"})
    assert page.status_code == 400
    assert 'aria-describedby="e-status h-status"' in page.text
    assert re.search(r'id="e-status" role="alert">[^<]*<span lang="en">an integer from 100 to 599', page.text)
    # A parameter no field carries is named at the top.
    page = client.get("/console/search", params={"limit": "1000"})
    assert page.status_code == 400
    assert 'role="alert" id="e-query"' in page.text
    assert "limit" in page.text
    # Given twice (in the box and as a field): the field is named.
    page = client.get("/console/search", params={"q": "actor:anna", "actor": "bob"})
    assert page.status_code == 400
    assert 'id="e-actor"' in page.text


@pytest.mark.parametrize("name", FIELDS)
def test_the_bad_input_corpus_gets_a_page_with_a_message_never_a_5xx(
    world: dict[str, Any], app: Starlette, name: str
) -> None:
    admin = logged_in(app, world, "org_admin")
    values = CORPUS if name != "q" else [*CORPUS, *[f"{q}:{v}" for q in QUALIFIERS for v in CORPUS[:12]]]
    for value in values:
        response = admin.get("/console/search?" + urllib.parse.urlencode({name: value}))
        assert response.status_code in (200, 400), (name, value, response.status_code)
        assert "Traceback" not in response.text
        assert "DB::Exception" not in response.text
        if response.status_code == 400:
            assert 'role="alert"' in response.text, (name, value)
        assert set(orgs_shown(response.text)) <= {"org-a"}, (name, value)


@pytest.mark.parametrize(
    "query",
    ["q=", "q=org:org-b", "organisation=org-b", "q=org%3Aorg-b+platform%3Alibrary", "q=subject:person-org-b",
     "request_id=coop-org-b", "q=request:coop-org-b", "q=actor:busy", "organisation=org-b&organisation=org-a",
     "q=org:org-a&organisation=org-b", "scope_organisations=org-b"],
)  # fmt: skip
def test_an_org_admin_never_sees_another_organisations_row(world: dict[str, Any], app: Starlette, query: str) -> None:
    admin = logged_in(app, world, "org_admin")
    page = admin.get(f"/console/search?{query}")
    assert page.status_code in (200, 400)
    assert set(orgs_shown(page.text)) <= {"org-a"}
    for fmt in ("csv", "jsonl"):
        export = admin.get(f"/console/export?{query}&format={fmt}")
        assert export.status_code in (200, 400)
        if export.status_code == 200:
            assert "org-b" not in export.text


# Values that name what is stored for either organisation, so that a leak would show.
VALUES = ["org-a", "org-b", "coop", "library", "busy", "acct-0", "person-org-b", "coop-org-b", "person.*", "success",
          "200", "10.1.0.0/16", TRACE, "moved", "org:org-b", "org:org-b platform:library", "actor:busy"]  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(FIELDS), st.sampled_from(VALUES), min_size=1, max_size=4))
def test_no_combination_of_the_forms_fields_widens_what_an_org_admin_sees(admin: Client, query: dict[str, str]) -> None:
    page = admin.get("/console/search?" + urllib.parse.urlencode(query))
    assert page.status_code in (200, 400)
    assert set(orgs_shown(page.text)) <= {"org-a"}


def test_keyset_pagination_newest_first_with_an_older_link(world: dict[str, Any], app: Starlette) -> None:
    client = logged_in(app, world, "auditor")
    first = client.get("/console/search?q=actor:busy")
    times = re.findall(r'<time datetime="([^"]+)">', first.text)
    assert len(times) == 50
    assert times == sorted(times, reverse=True)
    older = re.search(r'<a href="([^"]+)" rel="next">', first.text)
    assert older
    link = unescape(older.group(1))
    assert "cursor=" in link
    assert "q=actor%3Abusy" in link
    second = client.get(link)
    more = re.findall(r'<time datetime="([^"]+)">', second.text)
    assert len(more) == MANY - 50
    assert max(more) < min(times)
    assert 'rel="next"' not in second.text  # the last page
    assert "Newest events" in second.text
    assert client.get("/console/search?q=actor:busy&cursor=AAAA").status_code == 400


def test_an_event_detail_has_every_field_and_its_related_searches(world: dict[str, Any], app: Starlette) -> None:
    client = logged_in(app, world, "auditor")
    page = client.get("/console/search?request_id=coop-org-b")
    [link] = event_links(page.text)
    detail = client.get(link)
    assert detail.status_code == 200
    for field in ("event_id", "event_time", "received_at", "platform", "organisation", "actor_account_id",
                  "subject_id", "client_ip", "request_id", "trace_id", "details"):  # fmt: skip
        assert f"<code>{field}</code>" in detail.text, field
    related = dict(re.findall(r'<li><a href="(/console/search\?[^"]+)">([^<]+)</a></li>', detail.text))
    assert set(related.values()) == {"Same request", "Same trace", "This actor that day", "This subject"}
    same_request = next(unescape(k) for k, v in related.items() if v == "Same request")
    assert orgs_shown(client.get(same_request).text) == ["org-b"]
    same_trace = next(unescape(k) for k, v in related.items() if v == "Same trace")
    assert sorted(orgs_shown(client.get(same_trace).text)) == ["org-a", "org-a", "org-b", "org-b"]
    actor_day = next(unescape(k) for k, v in related.items() if v == "This actor that day")
    assert client.get(actor_day).status_code == 200
    # An org_admin of org-a: that event is not found, and nor is a bad id.
    admin = logged_in(app, world, "org_admin")
    assert admin.get(link).status_code == 404
    assert admin.get("/console/events/not-a-uuid").status_code == 404


def test_the_export_streams_csv_and_json_lines(world: dict[str, Any], app: Starlette) -> None:
    client = logged_in(app, world, "auditor")
    response = client.get("/console/export?q=actor%3Abusy&format=csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith('attachment; filename="audit-')
    assert response.headers["cache-control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == MANY
    assert {r["actor_account_id"] for r in rows} == {"busy"}
    lines = client.get("/console/export?q=actor%3Abusy&format=jsonl").text.splitlines()
    assert len(lines) == MANY
    assert json.loads(lines[0])["actor_account_id"] == "busy"
    bad = client.get("/console/export?format=xml")
    assert bad.status_code == 400
    assert "format" in bad.text
    # The search page links to both, with its filters.
    page = client.get("/console/search?q=actor%3Abusy").text
    assert 'href="/console/export?q=actor%3Abusy&amp;format=csv"' in page
    assert 'href="/console/export?q=actor%3Abusy&amp;format=jsonl"' in page


def saved_names(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="[^"]+">([^<]+)</a></th>', html)


def test_saved_searches_per_account(world: dict[str, Any], app: Starlette) -> None:
    mine, other = logged_in(app, world, "auditor"), logged_in(app, world, "auditor2")
    name = f"busy-{uuid.uuid4().hex[:6]}"
    page = mine.get("/console/search?q=actor%3Abusy&outcome=success")
    token = re.search(r'<form method="post" action="/console/saved" class="save">\s*<input type="hidden" '
                      r'name="csrf" value="([^"]+)">\s*<input type="hidden" name="query" value="([^"]*)">', page.text)  # fmt: skip
    assert token, page.text
    made = mine.post("/console/saved", {"csrf": token.group(1), "query": unescape(token.group(2)), "name": name})
    assert made.status_code == 201, made.text
    assert f"Search {name} saved." in made.text
    listed = mine.get("/console/saved").text
    assert name in saved_names(listed)
    [run] = re.findall(rf'<a href="([^"]+)">{name}</a>', listed)
    ran = mine.get(unescape(run))
    assert len(re.findall(r'<time datetime="', ran.text)) == 50
    assert 'value="actor:busy"' in ran.text
    # Another account sees none of it and cannot delete it.
    assert name not in other.get("/console/saved").text
    [search_id] = re.findall(r'action="/console/saved/([0-9a-f]+)/delete"', listed)
    assert other.post(f"/console/saved/{search_id}/delete", {"csrf": other.csrf("/console/saved")}).status_code == 404
    assert name in saved_names(mine.get("/console/saved").text)
    # Refused: a blank name, filters that are not valid.
    blank = mine.post("/console/saved", {"csrf": mine.csrf("/console/saved"), "query": "q=x", "name": "  "})
    assert blank.status_code == 400
    assert 'id="e-name" role="alert"' in blank.text
    bad = mine.post("/console/saved", {"csrf": mine.csrf("/console/saved"), "query": "ip=999.1.1.1", "name": "x"})
    assert bad.status_code == 400
    assert 'id="e-query"' in bad.text
    deleted = mine.post(f"/console/saved/{search_id}/delete", {"csrf": mine.csrf("/console/saved")})
    assert deleted.status_code == 200
    assert name not in saved_names(deleted.text)


def test_a_form_without_its_csrf_token_saves_and_deletes_nothing(world: dict[str, Any], app: Starlette) -> None:
    client, other = logged_in(app, world, "auditor"), logged_in(app, world, "auditor")
    name = f"forged-{uuid.uuid4().hex[:6]}"
    form = {"name": name, "query": "q=actor%3Abusy"}
    assert client.post("/console/saved", form).status_code == 403
    assert client.post("/console/saved", {**form, "csrf": other.csrf("/console/saved")}).status_code == 403
    assert name not in client.get("/console/saved").text
    assert client.post("/console/saved", {**form, "csrf": client.csrf("/console/saved")}).status_code == 201
    [search_id] = re.findall(rf'action="/console/saved/([0-9a-f]+)/delete"[^<]*<input[^>]*>\s*<button[^>]*>[^<]*'
                             rf'<span class="visually-hidden"> {name}</span>', client.get("/console/saved").text)  # fmt: skip
    assert client.post(f"/console/saved/{search_id}/delete", {}).status_code == 403
    assert name in client.get("/console/saved").text


def test_the_consoles_reads_are_in_the_access_log(world: dict[str, Any], app: Starlette) -> None:
    store: Store = world["store"]
    reader = f"reader-{uuid.uuid4().hex[:6]}"
    AccountStore(store.client, store.database).create(reader, "auditor", [], PASSWORD)
    client = Client(app)
    client.login(reader, PASSWORD)
    [link] = event_links(client.get("/console/search?q=request%3Acoop-org-a").text)
    client.get(link)
    client.get("/console/export?q=actor%3Abusy&format=jsonl")
    dpo = logged_in(app, world, "dpo")
    page = dpo.get(f"/console/access?username={reader}")
    assert page.status_code == 200, page.text
    rows = re.findall(r"<tr>\s*<td><time[^>]*>[^<]*</time></td>\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>"
                      r"\s*<td><code>([^<]*)</code></td>\s*<td>(.*?)</td>\s*<td>(\d+)</td>", page.text, re.S)  # fmt: skip
    seen = {(who, role, kind, route, int(count)) for who, role, kind, route, _, count in rows}
    assert (reader, "auditor", "export", "GET /console/export", MANY) in seen
    assert (reader, "auditor", "event view", "GET /console/events/{event_id}", 1) in seen
    assert (reader, "auditor", "search", "GET /console/search", 1) in seen
    filters = unescape(" ".join(f for *_, f, _ in rows))
    assert 'request_id="coop-org-a"' in filters
    assert 'actor="busy"' in filters
    # Only a DPO opens it; filters are checked like the search's.
    assert client.get("/console/access").status_code == 403
    assert logged_in(app, world, "org_admin").get("/console/access").status_code == 403
    bad = dpo.get("/console/access?kind=delete")
    assert bad.status_code == 400
    assert 'id="e-kind" role="alert"' in bad.text
    assert dpo.get("/console/access?who=x").status_code == 400
    assert "No reads match" in dpo.get("/console/access?username=nobody-at-all").text
    # Reading the log is a read of personal data too: each reading is in it, the DPO's included.
    readings = dpo.get("/console/access?kind=access_log").text
    assert "GET /console/access" in readings
    assert "nobody-at-all" in unescape(readings)


def test_a_read_whose_access_record_cannot_be_stored_is_refused_with_a_page(chdb_client: Any) -> None:
    store = Store(chdb_client, f"console_refused_{uuid.uuid4().hex[:10]}")
    store.migrate()
    AccountStore(store.client, store.database).create("refused-auditor", "auditor", [], PASSWORD)
    Ingestor(Settings(), store).ingest(batch([wire(1, organisation="org-a", request_id="refused-req")]))
    app = console_app(store, Clock())
    client = Client(app)
    client.login("refused-auditor", PASSWORD)
    [link] = event_links(client.get("/console/search?q=").text)
    store.client.command(f"DROP TABLE {store.database}.access_events")
    for path in ("/console/search?q=", link, "/console/export?format=csv"):
        response = client.get(path)
        assert response.status_code == 503, (path, response.text)
        assert "Read refused" in response.text
        assert "could not be stored" in response.text
        assert "refused-req" not in response.text
        assert "org-a" not in response.text


def test_the_new_pages_are_in_three_languages(world: dict[str, Any], app: Starlette) -> None:
    dpo = logged_in(app, world, "dpo")
    assert "Toegangslog" in dpo.get("/console/access", headers={"Accept-Language": "nl"}).text
    assert "Journal des accès" in dpo.get("/console/access", headers={"Accept-Language": "fr"}).text
    auditor = logged_in(app, world, "auditor")
    page = auditor.get("/console/search?q=", headers={"Accept-Language": "fr"}).text
    assert "Champ de recherche" in page
    assert "Exporter ces résultats en CSV" in page
    assert "Bewaarde zoekopdrachten" in auditor.get("/console/saved", headers={"Accept-Language": "nl"}).text
