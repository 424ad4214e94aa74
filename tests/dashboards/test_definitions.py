"""The definitions: each one loads and every bad one fails naming its file and key; the scope of the
principal holds in the query layer, whatever the filters ask."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ccaudit.access.principal import account_principal
from ccaudit.access.roles import Role
from ccaudit.dashboards import DASHBOARDS, Range, dashboard_tables
from ccaudit.dashboards.query import NotVisible
from ccaudit.dashboards.registry import DEFINITIONS, DefinitionError, load
from ccaudit.ingest import Ingestor
from ccaudit.settings import Settings
from ccaudit.store import Store
from tests.conftest import days_ago_ms
from tests.dashboards.world import send, step

GOOD = (DEFINITIONS / "pages.toml").read_text()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('chart = "table"', 'chart = "pie"'), "pages.toml: pages.panels.pages: chart must be one of"),
        (("${db}.usage_pages", "${db}.usage_events"), "pages.panels.pages.sql: usage_events is not a rollup"),
        (("$__dateFilter(day)", "$__timeGroup(day)"), "pages.panels.pages.sql: unknown macro"),
        (("${platform:singlequote} = ''", "${person:singlequote} = ''"), "unknown variable person"),
        (("roles = [", 'roles = ["janitor", '), "pages.toml: pages: 'janitor' is not a valid Role"),
        (('fr = "Pages", en = "Pages" }\n', 'en = "Pages" }\n'), "title needs exactly nl, fr, en"),
        (('kind = "visitors"', 'kind = "people"'), "pages.panels.pages.columns.visitors: kind must be one of"),
        (('key = "pages"\norder', 'key = "Pages!"\norder'), "pages.toml: key must be"),
    ],
)
def test_a_bad_definition_names_its_file_and_key(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    assert change[0] in GOOD
    path = tmp_path / "pages.toml"
    path.write_text(GOOD.replace(change[0], change[1], 1))
    with pytest.raises(DefinitionError) as raised:
        load(path)
    assert message in str(raised.value)


def test_every_definition_loads_with_three_languages() -> None:
    for path in sorted(DEFINITIONS.glob("*.toml")):
        _, dashboard = load(path)
        assert DASHBOARDS[dashboard.key] == dashboard
        for panel in dashboard.panels:
            assert set(panel.title) == {"nl", "fr", "en"}


def test_a_learning_manager_sees_only_their_organisations_learners(store: Store) -> None:
    ingestor = Ingestor(Settings(), store)
    events = [step(days_ago_ms(1) + i, f"l{i}", ("org-a", "org-b")[i % 2]) for i in range(20)]
    # A learner who moved from org-a to org-b counts for org-b only (the latest organisation).
    events += [step(days_ago_ms(1) + 100, "mover", "org-a"), step(days_ago_ms(0), "mover", "org-b")]
    send(ingestor, events, platform="learning")
    day = datetime.now(UTC).date()
    week = Range(day - timedelta(days=6), day)
    learning = DASHBOARDS["learning"]
    manager = account_principal("lm", Role.LEARNING_MANAGER, frozenset({"org-a"}))
    own = dashboard_tables(store, manager, learning, week)
    assert own["organisations"].rows == (("org-a", "m1", 10, 0, 10),)
    # Asking for another organisation does not widen the scope: it narrows to nothing.
    asked = Range(week.start, week.end, organisation="org-b")
    assert dashboard_tables(store, manager, learning, asked)["organisations"].rows == ()
    operator = account_principal("op", Role.OPERATOR, frozenset())
    every = dashboard_tables(store, operator, learning, week)["organisations"].rows
    assert every == (("org-a", "m1", 10, 0, 10), ("org-b", "m1", 11, 0, 11))
    with pytest.raises(NotVisible):
        dashboard_tables(store, account_principal("oa", Role.ORG_ADMIN, frozenset({"org-a"})), learning, week)
