"""The dashboards' API in-process on the real engine: the list per role, a dashboard's tables with
the previous period, the CSV of a panel, organisations held by the query layer, bad parameters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ccaudit.ingest import Ingestor
from ccaudit.service.app import create_app
from ccaudit.settings import Settings
from ccaudit.store import Store
from tests.conftest import days_ago_ms, personal_headers
from tests.dashboards.world import operation, send, view
from tests.service.test_observability import call

ADMIN = "admin-secret-of-the-dashboards-api-test"


def test_dashboards_over_the_api(store: Store) -> None:
    settings = Settings(admin_token=ADMIN, retention_interval_minutes=0)
    app = create_app(settings, store)
    ingestor = Ingestor(settings, store)
    send(ingestor, [view(days_ago_ms(0) + v, v, "/home") for v in range(8)] + [view(days_ago_ms(0), 50, "/odd")])
    send(ingestor, [view(days_ago_ms(1) + v, v, "/home") for v in range(6)])
    send(
        ingestor,
        [operation(days_ago_ms(0) + i, org, outcome="denied") for i, org in enumerate(["org-a"] * 3 + ["org-b"] * 2)],
    )
    auditor = personal_headers(store, "auditor")
    org_admin = personal_headers(store, "org_admin", ("org-a",))
    dpo = personal_headers(store, "dpo")

    listed = call(app, "GET", "/v1/dashboards", headers=dpo).json()
    assert [d["key"] for d in listed["dashboards"]] == [
        "overview",
        "pages",
        "sources",
        "devices",
        "countries",
        "consent",
        "now",
    ]
    assert listed["dashboards"][0]["panels"][0]["columns"][0]["title"]["en"] == "Visitors (sum of daily uniques)"

    today = datetime.now(UTC).date()
    answer = call(
        app, "GET", "/v1/dashboards/overview", params={"since": today.isoformat(), "compare": "1"}, headers=dpo
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["panels"]["totals"]["rows"] == [[9, 9, 1.0]]
    # /odd has one visitor: "<5", and /home hidden as its complement.
    assert body["panels"]["top_pages"]["rows"] == [["/home", "<5", "<5"], ["/odd", "<5", "<5"]]
    assert body["previous"]["since"] == (today - timedelta(days=1)).isoformat()
    assert body["previous"]["panels"]["totals"]["rows"] == [[6, 6, 1.0]]

    csv = call(app, "GET", "/v1/dashboards/overview/top_pages.csv", params={"since": today.isoformat()}, headers=dpo)
    assert csv.status_code == 200
    assert csv.text.splitlines() == ["page,visitors,page_views", "/home,<5,<5", "/odd,<5,<5"]

    # Admin activity: the auditor sees both organisations, the org_admin only their own, whatever is asked.
    path = "/v1/dashboards/admin"
    every = call(app, "GET", path, headers=auditor).json()["panels"]["by_action"]["rows"]
    assert sorted((r[0], r[2], r[4]) for r in every) == [("org-a", 3, 3), ("org-b", 2, 2)]
    own = call(app, "GET", path, params={"organisation": "org-b"}, headers=org_admin).json()["panels"]
    assert own["by_action"]["rows"] == []
    assert call(app, "GET", path, headers=org_admin).json()["panels"]["totals"]["rows"] == [[3, 0, 3]]
    assert call(app, "GET", path, headers=dpo).status_code == 403
    assert call(app, "GET", "/v1/dashboards/nothing", headers=dpo).status_code == 404
    assert call(app, "GET", "/v1/dashboards/overview/nothing.csv", headers=dpo).status_code == 404

    for params, name in (
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01"}, "until"),  # fixed date: invalid month
        ({"compare": "yes"}, "compare"),
        ({"platfrom": "coop"}, "platfrom"),
        ({"since": "1990-01-01", "until": "2000-01-01"}, "since"),
    ):  # fixed date: a span too long
        refused = call(app, "GET", "/v1/dashboards/overview", params=params, headers=dpo)
        assert refused.status_code == 400
        assert refused.json()["error"].startswith(f"{name}:")


def test_a_modules_statistics_as_a_dashboard_table(store: Store) -> None:
    from ccaudit.access.principal import account_principal
    from ccaudit.access.roles import Role
    from ccaudit.dashboards import SUPPRESSED, Range
    from ccaudit.dashboards.learning import module_table
    from ccaudit.learning.catalogue import parse_catalogue
    from tests.dashboards.world import step

    catalogue = parse_catalogue({"version": 1, "modules": {"m1": {"lessons": []}}})
    ingestor = Ingestor(Settings(), store)
    events = [step(days_ago_ms(1) + i, f"a{i}", "org-a", verb="registered") for i in range(6)]
    events += [step(days_ago_ms(1) + 10 + i, f"a{i}", "org-a", verb="completed") for i in range(5)]
    events += [step(days_ago_ms(1) + i, f"b{i}", "org-b", verb="registered") for i in range(2)]
    send(ingestor, events)
    day = datetime.now(UTC).date()
    week = Range(day - timedelta(days=6), day)
    manager = account_principal("lm", Role.LEARNING_MANAGER, frozenset({"org-a", "org-b"}))
    rows = {r[0]: r[1:5] for r in module_table(store, catalogue, manager, "coop", "m1", week).rows}
    # org-a: 6 learners, 5 started and completed; org-b: 2 learners, a group too small to show.
    assert rows == {"org-a": (6, 6, 5, 5), "org-b": (SUPPRESSED,) * 4}
    own = account_principal("lm", Role.LEARNING_MANAGER, frozenset({"org-b"}))
    assert [r[0] for r in module_table(store, catalogue, own, "coop", "m1", week).rows] == ["org-b"]
