"""The console's dashboards in-process, on the real engine, over the demo's history: each page and
each table's CSV for each role, the CSV equal to the page's table, bad parameters refused naming
them, and an organisation's reader never shown another organisation whatever the query string."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, datetime
from html import unescape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from ccaudit.access import AccountStore, ApiTokenStore, Authenticator, Principal
from ccaudit.access.principal import account_principal
from ccaudit.console import console_routes
from ccaudit.console.pages import CSP
from ccaudit.dashboards.registry import DASHBOARDS, visible
from ccaudit.demo_history import ORGANISATIONS, seed
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.tokens import TokenStore
from tests.console.browser import Client

PASSWORD = "a password long enough"
ROLES = {"operator": [], "auditor": [], "dpo": [], "org_admin": ["gemeente-a"], "learning_manager": ["gemeente-a"]}
OTHER_ORGANISATIONS = sorted({o for orgs in ORGANISATIONS.values() for o in orgs} - {"gemeente-a"})


class Tables(HTMLParser):
    """The page's dashboard tables: panel key → rows of cell texts, the header row first."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.svg_paths = 0
        self._panel: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table" and found.get("data-panel"):
            self._panel = found["data-panel"]
            self.tables[self._panel or ""] = []
        elif tag == "tr" and self._panel is not None:
            self.tables[self._panel].append([])
        elif tag in ("td", "th") and self._panel is not None:
            self._cell = []
        elif tag == "path":
            self.svg_paths += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._panel = None
        elif tag in ("td", "th") and self._panel is not None and self._cell is not None:
            self.tables[self._panel][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse(html: str) -> Tables:
    tables = Tables()
    tables.feed(html)
    return tables


@pytest.fixture(scope="module")
def world(chdb_client: Any) -> dict[str, Any]:
    store = Store(chdb_client, f"dash_console_{uuid.uuid4().hex[:10]}")
    store.migrate()
    config = Settings()
    seed(store, config, datetime.now(UTC), days=40, days_personal=40)
    accounts = AccountStore(store.client, store.database)
    users = {}
    for role, orgs in ROLES.items():
        users[role] = accounts.create(f"{role.replace('_', '-')}-{uuid.uuid4().hex[:6]}", role, orgs, PASSWORD)
    authenticator = Authenticator(config, accounts, ApiTokenStore(store.client, store.database))
    app = Starlette(routes=console_routes(config, store, authenticator, TokenStore(store.client, store.database)))
    clients = {}
    for role, account in users.items():
        client = Client(app)
        assert client.login(account.username, PASSWORD).status_code == 303
        clients[role] = client
    return {"store": store, "users": users, "clients": clients, "app": app}


def _principal(world: dict[str, Any], role: str) -> Principal:
    account = world["users"][role]
    return account_principal(account.account_id, account.role, account.organisations)


def test_the_list_shows_the_dashboards_each_role_may_open(world: dict[str, Any]) -> None:
    for role, client in world["clients"].items():
        page = client.get("/console/dashboards")
        assert page.status_code == 200
        links = re.findall(r'href="/console/dashboards/([a-z_]+)"', page.text)
        assert links == [d.key for d in visible(_principal(world, role))]
    operator = world["clients"]["operator"].get("/console/dashboards").text
    assert "/console/dashboards/admin" not in operator
    assert "/console/dashboards/admin" in world["clients"]["org_admin"].get("/console/dashboards").text


@pytest.mark.parametrize("key", list(DASHBOARDS))
def test_every_dashboard_shows_its_tables_and_charts_and_each_csv_is_its_table(world: dict[str, Any], key: str) -> None:
    role = next(r for r in ("operator", "auditor", "org_admin") if DASHBOARDS[key] in visible(_principal(world, r)))
    client = world["clients"][role]
    page = client.get(f"/console/dashboards/{key}")
    assert page.status_code == 200, page.text
    found = parse(page.text)
    dashboard = DASHBOARDS[key]
    assert found.tables, "no table on the page"
    assert found.svg_paths > 0 or all(p.chart == "stat" for p in dashboard.panels), "no chart drawn"
    for panel in dashboard.panels:
        link = re.search(rf'href="(/console/dashboards/{key}/{panel.key}\.csv\?[^"]*)"', page.text)
        assert link, panel.key
        download = client.get(unescape(link.group(1)))
        assert download.status_code == 200
        assert download.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(download.text)))
        if panel.key in found.tables:
            if dashboard.window_minutes is None:  # the live one moves between the two reads
                assert rows == found.tables[panel.key], panel.key
            else:
                assert rows[0] == found.tables[panel.key][0]
        else:
            assert rows[1:] == [], panel.key  # no table on the page: nothing in the period


def test_a_trend_is_drawn_with_the_previous_period_and_tiles_show_the_change(world: dict[str, Any]) -> None:
    page = world["clients"]["operator"].get("/console/dashboards/overview?range=7d").text
    assert page.count('class="series previous"') == 1
    assert 'role="img"' in page
    assert "<title id=" in page
    assert "<desc id=" in page
    assert re.search(r'class="trend trend-(up|down|flat)"', page)
    plain = world["clients"]["operator"].get("/console/dashboards/overview?range=7d&compare=none").text
    assert 'class="series previous"' not in plain
    assert 'class="trend' not in plain


def test_pages_follow_the_chosen_language(world: dict[str, Any]) -> None:
    client = world["clients"]["operator"]
    for lang, words in (("nl", "Laatste 30 dagen"), ("fr", "30 derniers jours"), ("en", "Last 30 days")):
        page = client.get("/console/dashboards/overview", headers={"Accept-Language": lang})
        assert words in page.text
        assert DASHBOARDS["overview"].title[lang] in unescape(page.text)


def test_only_the_live_dashboard_may_run_its_own_script(world: dict[str, Any]) -> None:
    client = world["clients"]["operator"]
    live = client.get("/console/dashboards/now")
    assert "script-src 'self'" in live.headers["content-security-policy"]
    assert 'src="/console/static/refresh.js"' in live.text
    other = client.get("/console/dashboards/overview")
    assert other.headers["content-security-policy"] == CSP
    assert "<script" not in other.text
    script = client.get("/console/static/refresh.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ({"range": "3d"}, "range"),
        ({"range": "custom", "end": "2026-01-10"}, "start"),  # fixed date: refused before any date matters
        ({"range": "custom", "start": "yesterday", "end": "2026-01-10"}, "start"),  # fixed date: as above
        ({"range": "custom", "start": "2020-01-02", "end": "2020-01-01"}, "start"),
        ({"range": "custom", "start": "2000-01-01", "end": "2003-01-01"}, "start"),
        ({"range": "custom", "start": "2000-01-01", "end": "2999-01-01"}, "end"),
        ({"range": "7d", "start": "2000-01-01"}, "start"),
        ({"compare": "sometimes"}, "compare"),
        ({"platform": "Not A Platform"}, "platform"),
        ({"organisation": "gemeente-a"}, "organisation"),  # overview is not per organisation
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_bad_parameter_is_refused_with_a_page_naming_it(
    world: dict[str, Any], query: dict[str, str], name: str
) -> None:
    client = world["clients"]["operator"]
    for path in ("/console/dashboards/overview", "/console/dashboards/overview/totals.csv"):
        response = client.get(f"{path}?{urlencode(query)}")
        assert response.status_code == 400
        assert f"\u201c{name}\u201d" in response.text


def test_a_parameter_given_twice_is_refused(world: dict[str, Any]) -> None:
    response = world["clients"]["operator"].get("/console/dashboards/overview?range=7d&range=30d")
    assert response.status_code == 400
    assert "\u201crange\u201d" in response.text


def test_an_unknown_or_forbidden_dashboard_or_panel_is_not_found(world: dict[str, Any]) -> None:
    clients = world["clients"]
    assert clients["operator"].get("/console/dashboards/nope").status_code == 404
    assert clients["operator"].get("/console/dashboards/overview/nope.csv").status_code == 404
    assert clients["operator"].get("/console/dashboards/admin").status_code == 404
    assert clients["auditor"].get("/console/dashboards/learning/modules.csv").status_code == 404


def test_an_org_admin_is_offered_only_their_organisation(world: dict[str, Any]) -> None:
    page = world["clients"]["org_admin"].get("/console/dashboards/admin").text
    options = re.findall(r'<option value="([^"]*)"', page.split('id="organisation"')[1].split("</select>")[0])
    assert options == ["", "gemeente-a"]
    other = world["clients"]["org_admin"].get("/console/dashboards/admin?organisation=gemeente-b")
    assert other.status_code == 400
    tables = parse(world["clients"]["org_admin"].get("/console/dashboards/admin?range=90d").text).tables
    organisations = {row[0] for row in tables["by_action"][1:]}
    assert organisations == {"gemeente-a"}
    everyone = parse(world["clients"]["auditor"].get("/console/dashboards/admin?range=90d").text).tables
    assert {row[0] for row in everyone["by_action"][1:]} > {"gemeente-a"}


_VALUES = st.one_of(
    st.sampled_from(["", "7d", "30d", "90d", "12m", "custom", "none", "previous", "coop", "learning", *OTHER_ORGANISATIONS,
                     "gemeente-a", "2020-01-01", "1999-12-31"]),
    st.text(max_size=12),
)  # fmt: skip
_NAMES = st.sampled_from(["range", "start", "end", "compare", "platform", "organisation", "organisation[]", "org"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pairs=st.lists(st.tuples(_NAMES, _VALUES), max_size=5), panel=st.sampled_from(["", "/by_action.csv", "/totals.csv"])
)
def test_no_query_string_widens_an_org_admin_to_another_organisation(
    world: dict[str, Any], pairs: list[tuple[str, str]], panel: str
) -> None:
    response = world["clients"]["org_admin"].get(f"/console/dashboards/admin{panel}?{urlencode(pairs)}")
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        body = response.text.split('id="organisation"')[-1] if not panel else response.text
        for other in OTHER_ORGANISATIONS:
            assert other not in body


def test_the_demo_history_fills_every_dashboard_past_the_small_cell_threshold(world: dict[str, Any]) -> None:
    operator = world["clients"]["operator"]
    consent = parse(operator.get("/console/dashboards/consent").text).tables["by_answer"][1:]
    answers = {(platform, answer) for platform, answer, receipts in consent if receipts != "<5"}
    for platform in ORGANISATIONS:
        assert {answer for p, answer in answers if p == platform} == {
            "accepted", "refused", "partly accepted", "withdrawn"
        }, platform  # fmt: skip
    for key, panel in (("devices", "browsers"), ("countries", "countries"), ("sources", "referrers")):
        tables = parse(operator.get(f"/console/dashboards/{key}").text).tables
        rows = next(rows for name, rows in tables.items() if name.startswith(panel[:5]))[1:]
        assert len(rows) >= 3, key
        assert all("<5" not in row[1:] for row in rows[:3]), key
    trend = parse(operator.get("/console/dashboards/overview?range=7d").text).tables["trend"][1:]
    assert len(trend) == 7
    assert all(int(visitors) >= 5 for _, visitors, _ in trend)
    admin = parse(world["clients"]["auditor"].get("/console/dashboards/admin").text).tables["by_action"][1:]
    assert {row[0] for row in admin} == {o for orgs in ORGANISATIONS.values() for o in orgs}
