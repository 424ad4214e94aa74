"""The overview dashboard end to end: page views through the real ingest, rollups filled by the
engine's views, read back through the query layer with small cells suppressed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ccaudit.access.principal import account_principal
from ccaudit.access.roles import Role
from ccaudit.dashboards import DASHBOARDS, SUPPRESSED, Range, dashboard_tables, visible
from ccaudit.ingest import Ingestor
from ccaudit.settings import Settings
from ccaudit.store import Store
from tests.conftest import days_ago_ms
from tests.dashboards.world import send, view

AUDITOR = account_principal("acc-auditor", Role.AUDITOR, frozenset())


def test_the_overview_counts_visitors_page_views_pages_and_referrers(store: Store) -> None:
    ingestor = Ingestor(Settings(), store)
    yesterday, today = days_ago_ms(1), days_ago_ms(0)
    # Yesterday 6 visitors saw /home twice each, from search.example; today 7 visitors saw /home
    # once and 2 of them /rare too.
    events = [view(yesterday + i, v, "/home", "search.example") for v in range(6) for i in range(2)]
    events += [view(today + v, v, "/home") for v in range(7)] + [view(today + 100 + v, v, "/rare") for v in range(2)]
    send(ingestor, events)
    day = datetime.now(UTC).date()
    tables = dashboard_tables(store, AUDITOR, DASHBOARDS["overview"], Range(day - timedelta(days=6), day))

    assert tables["totals"].rows == ((13, 21, round(21 / 13, 2)),)  # visitors: a sum of daily uniques
    trend = {row[0]: row[1:] for row in tables["trend"].rows}
    assert trend == {day - timedelta(days=1): (6, 12), day: (7, 9)}
    # /rare has 2 visitors: suppressed; and its complement, the next-smallest row (/home), too, so
    # that the total minus the rows shown does not give /rare's page views.
    assert tables["top_pages"].rows == (("/home", SUPPRESSED, SUPPRESSED), ("/rare", SUPPRESSED, SUPPRESSED))
    assert tables["top_pages"].rows_suppressed == 2
    assert {r[0]: r[1:] for r in tables["top_referrers"].rows} == {"search.example": (6, 12), "(direct)": (7, 9)}
    assert tables["top_pages"].as_json()["rows"][1] == ["/rare", "<5", "<5"]


def test_the_previous_period_and_the_platform_filter(store: Store) -> None:
    ingestor = Ingestor(Settings(), store)
    # Page views older than a day and a half would find their day's salt gone (no visitor hash):
    # the previous period here is yesterday.
    send(ingestor, [view(days_ago_ms(1), v) for v in range(5)])
    send(ingestor, [view(days_ago_ms(0), v) for v in range(9)], platform="learning")
    day = datetime.now(UTC).date()
    today = Range(day, day)
    overview = DASHBOARDS["overview"]
    assert today.previous() == Range(day - timedelta(days=1), day - timedelta(days=1))
    assert dashboard_tables(store, AUDITOR, overview, today.previous())["totals"].rows == ((5, 5, 1.0),)
    assert dashboard_tables(store, AUDITOR, overview, today)["totals"].rows == ((9, 9, 1.0),)
    only_coop = Range(today.start, today.end, platform="coop")
    assert dashboard_tables(store, AUDITOR, overview, only_coop)["totals"].rows == ((0, 0, 0.0),)


def test_every_console_role_sees_the_usage_dashboards_and_only_some_the_others() -> None:
    seen = {role: [d.key for d in visible(account_principal("a", role, frozenset({"org-1"})))] for role in Role}
    usage = ["overview", "pages", "sources", "devices", "countries", "consent", "now"]
    for keys in seen.values():
        assert [k for k in keys if k in usage] == usage
    assert "admin" in seen[Role.ORG_ADMIN]
    assert "admin" in seen[Role.AUDITOR]
    assert "admin" not in seen[Role.DPO]
    assert "learning" in seen[Role.LEARNING_MANAGER]
    assert "learning" not in seen[Role.ORG_ADMIN]
    assert list(DASHBOARDS) == ["overview", "pages", "sources", "devices", "countries", "admin", "consent",
                                "learning", "now"]  # fmt: skip
