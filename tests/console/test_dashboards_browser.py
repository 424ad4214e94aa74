"""The dashboards in a real browser over the demo's data: headless Chromium (Debian's) driven by
playwright, against ``ccaudit demo`` itself (what ``make run`` starts: the service, the three demo
platforms with their traffic, and the history ``ccaudit.demo_history`` writes before the service
starts).

The operator opens every dashboard it may (the live one first, while the history's last minutes are
still in its window): each page has tables and non-empty charts (SVG paths), every table's CSV is the
page's table cell for cell, one of them downloaded by clicking its link; the period form works. The
org_admin's admin activity and the learning manager's learning show their own organisation only, and
the auditor's admin activity shows the others too. Every page passes axe-core's WCAG 2.1 A and AA
rules (an error page too), and each is saved as a screenshot under test-output/dashboards/.
"""

from __future__ import annotations

import csv
import io
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ccaudit.access.roles import Role
from ccaudit.dashboards.registry import DASHBOARDS
from tests.chromium import assert_accessible, launched, skip_without_chromium
from tests.conftest import ROOT, clean_env, free_port
from tests.e2e.test_launcher import Output

pytestmark = pytest.mark.e2e

skip_without_chromium()

from playwright.sync_api import Browser, Page  # noqa: E402

SHOTS = ROOT / "test-output" / "dashboards"
# Generous: the demo's traffic and the pages' queries share one embedded engine on a loaded machine.
TIMEOUT_MS = 60_000
_YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)
# The 60 days up to yesterday: a period whose figures no longer change.
ENDED = f"range=custom&start={_YESTERDAY - timedelta(days=59)}&end={_YESTERDAY}"


@dataclass(frozen=True)
class Demo:
    url: str
    accounts: dict[str, tuple[str, str]]  # role → (username, password)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    ports = [str(free_port()) for _ in range(4)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "ccaudit", "demo", "--service-port", ports[0], "--platform-port", ports[1],
         "--flask-port", ports[2], "--django-port", ports[3]],
        env=clean_env(CCAUDIT_DATA_DIR=str(tmp_path_factory.mktemp("demo") / "data")),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        output = Output(proc)
        url = output.wait_for(r"ccaudit service\s+(http://127\.0\.0\.1:\d+)\n", 300).group(1)
        output.wait_for(r"Ctrl-C stops everything", 60)
        accounts = {
            role: (user, password)
            for user, password, role in re.findall(r"account\s+(\S+) / (\S+)\s+\((\w+)\)", output.text)
        }
        yield Demo(url, accounts)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched(SHOTS) as b:
        yield b


def accessible(page: Page, name: str) -> None:
    assert_accessible(page, SHOTS, name)


def log_in(browser: Browser, demo: Demo, role: str) -> Page:
    context = browser.new_context(locale="en-GB", accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(demo.url + "/console/login")
    page.get_by_label("Username").fill(demo.accounts[role][0])
    page.get_by_label("Password").fill(demo.accounts[role][1])
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", level=1, name="Start").wait_for()
    return page


def page_tables(page: Page) -> dict[str, list[list[str]]]:
    """Each dashboard table on the page: its header row, then its rows, as the cells' texts."""
    tables: dict[str, list[list[str]]] = {}
    for table in page.locator("table.dash-table").all():
        rows = [[cell.strip() for cell in row.locator("th, td").all_inner_texts()] for row in table.locator("tr").all()]
        tables[table.get_attribute("data-panel") or ""] = rows
    return tables


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def dashboard_links(page: Page, demo: Demo) -> list[str]:
    page.goto(demo.url + "/console/dashboards")
    links = page.locator("ul.dash-list a").all()
    return [link.get_attribute("href") or "" for link in links]


@pytest.fixture(scope="module")
def operator(browser: Browser, demo: Demo) -> Iterator[Page]:
    page = log_in(browser, demo, "operator")
    yield page
    page.context.close()


# The operator's dashboards, the live one first: the history's last minutes are still in its window.
OPERATOR_KEYS = ["now", *[d.key for d in DASHBOARDS.values() if Role.OPERATOR in d.roles and d.key != "now"]]


@pytest.mark.timeout(900)
def test_the_operator_is_offered_each_dashboard_of_its_role(operator: Page, demo: Demo) -> None:
    operator.get_by_role("navigation", name="Main menu").get_by_role("link", name="Dashboards").click()
    operator.get_by_role("heading", level=1, name="Dashboards").wait_for()
    accessible(operator, "00-list")
    links = dashboard_links(operator, demo)
    assert sorted(link.rsplit("/", 1)[1] for link in links) == sorted(OPERATOR_KEYS)
    assert "/console/dashboards/admin" not in links  # admin activity is the auditor's and org_admin's


@pytest.mark.timeout(900)
@pytest.mark.parametrize("key", OPERATOR_KEYS)
def test_a_dashboard_shows_charts_and_tables_whose_csv_match(operator: Page, demo: Demo, key: str) -> None:
    page = operator
    n = OPERATOR_KEYS.index(key) + 1
    link = f"/console/dashboards/{key}"
    page.goto(demo.url + link)
    page.locator("h1").wait_for()
    tables = page_tables(page)
    assert tables, key
    assert all(len(rows) > 1 for rows in tables.values()), key
    assert page.locator("svg.chart path").count() > 0, f"{key}: no chart drawn"
    assert page.locator("svg.chart[role=img] > title").count() == page.locator("svg.chart").count()
    accessible(page, f"{n:02d}-{key}")
    if key != "now":
        # Today's figures grow with the demo's traffic between two reads: a period that has ended.
        page.goto(f"{demo.url}{link}?{ENDED}")
        tables = page_tables(page)
    for panel, rows in tables.items():
        href = page.locator(f"#panel-{panel} a[download]").get_attribute("href") or ""
        answer = page.request.get(demo.url + href)
        assert answer.status == 200
        if key == "now":  # the last minutes move on between two reads: the same columns
            assert csv_rows(answer.text())[0] == rows[0]
        else:
            assert csv_rows(answer.text()) == rows, f"{key}/{panel}"


@pytest.mark.timeout(900)
def test_the_period_form_compares_and_a_csv_downloads_as_shown(operator: Page, demo: Demo) -> None:
    page = operator
    page.goto(demo.url + "/console/dashboards/overview")
    page.get_by_label("Period", exact=True).select_option("90d")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"range=90d"))
    assert page.locator("path.series.previous").count() == 1  # the period before, as a second series
    assert page.locator(".tile .trend").count() > 0
    accessible(page, "20-overview-90-days")
    page.goto(f"{demo.url}/console/dashboards/overview?{ENDED}")
    with page.expect_download() as started:
        page.locator("#panel-top_pages a[download]").click()
    downloaded = Path(started.value.path()).read_text()
    assert csv_rows(downloaded) == page_tables(page)["top_pages"]
    page.goto(demo.url + "/console/dashboards/overview?range=custom&start=2020-01-02&end=2020-01-01")
    assert page.get_by_role("heading", level=1, name="Dashboard not shown").is_visible()
    accessible(page, "21-bad-parameter")


@pytest.mark.timeout(900)
def test_an_org_admin_sees_only_their_organisations_admin_activity(browser: Browser, demo: Demo) -> None:
    page = log_in(browser, demo, "org_admin")
    try:
        page.goto(demo.url + "/console/dashboards/admin?range=90d")
        page.locator("h1").wait_for()
        options = page.locator("#organisation option").all()
        assert [o.get_attribute("value") for o in options] == ["", "gemeente-a"]
        rows = page_tables(page)["by_action"][1:]
        assert rows
        assert {row[0] for row in rows} == {"gemeente-a"}
        assert page.locator("svg.chart path").count() > 0
        accessible(page, "30-admin-org-admin")
        page.goto(demo.url + "/console/dashboards/admin?range=90d&organisation=gemeente-b")
        assert page.get_by_role("heading", level=1, name="Dashboard not shown").is_visible()
    finally:
        page.context.close()
    auditor = log_in(browser, demo, "auditor")
    try:
        auditor.goto(demo.url + "/console/dashboards/admin?range=90d")
        organisations = {row[0] for row in page_tables(auditor)["by_action"][1:]}
        assert {"gemeente-a", "gemeente-b"} <= organisations
        accessible(auditor, "31-admin-auditor")
    finally:
        auditor.context.close()


@pytest.mark.timeout(900)
def test_a_learning_manager_sees_only_their_organisations_learners(browser: Browser, demo: Demo) -> None:
    page = log_in(browser, demo, "learning_manager")
    try:
        page.goto(demo.url + "/console/dashboards/learning?range=90d")
        page.locator("h1").wait_for()
        rows = page_tables(page)["organisations"][1:]
        assert rows
        assert {row[0] for row in rows} == {"gemeente-a"}
        accessible(page, "40-learning-manager")
    finally:
        page.context.close()
