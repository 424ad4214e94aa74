"""The Grafana dashboards: valid for Grafana's dashboard model, and each panel's SQL, with the data
source's macros and Grafana's variables expanded as they expand them, gives on the embedded engine
the same numbers as the console's query layer on the same data (Grafana itself cannot run here)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ccaudit.access.principal import account_principal
from ccaudit.access.roles import Role
from ccaudit.cli import app as cli
from ccaudit.dashboards import DASHBOARDS, SUPPRESSED, Range, panel_table
from ccaudit.dashboards.grafana import grafana_dashboard
from ccaudit.ingest import Ingestor
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.client import query_rows
from tests.conftest import ROOT, days_ago_ms
from tests.dashboards.world import CHROME, FIREFOX, operation, receipt, send, step, view

SCHEMA = json.loads((Path(__file__).parent / "grafana_dashboard.schema.json").read_text())


def grafana_expand(sql: str, start: datetime, end: datetime, variables: dict[str, str | None]) -> str:
    """What Grafana sends for ``sql``: variables interpolated first (``:singlequote`` quotes a value
    and escapes its quotes; "All" is the custom all value ``''``, not quoted again), then the ClickHouse
    data source's macros (pkg/macros/macros.go: dates as toDate('YYYY-MM-DD'), times as
    toDateTime(<unix seconds>), the range's end included)."""

    def variable(match: re.Match[str]) -> str:
        value = variables[match[1]]
        if match[2] is None:
            return value or ""
        return "''" if value is None else "'" + value.replace("'", "\\'") + "'"

    sql = re.sub(r"\$\{(\w+)(?::(singlequote))?\}", variable, sql)
    sql = re.sub(r"\$__dateFilter\(([\w.]+)\)",
                 lambda m: f"{m[1]} >= toDate('{start:%Y-%m-%d}') AND {m[1]} <= toDate('{end:%Y-%m-%d}')", sql)  # fmt: skip
    sql = re.sub(r"\$__timeFilter\(([\w.]+)\)",
                 lambda m: f"{m[1]} >= toDateTime({int(start.timestamp())}) AND {m[1]} <= toDateTime({int(end.timestamp())})",
                 sql)  # fmt: skip
    sql = sql.replace("$__fromTime", f"toDateTime({int(start.timestamp())})")
    return sql.replace("$__toTime", f"toDateTime({int(end.timestamp())})")


def test_every_generated_dashboard_is_valid_for_grafanas_model(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(cli, ["dashboards", "grafana", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in tmp_path.glob("*.json"))
    assert written == sorted(f"{key}.json" for key in DASHBOARDS)
    for path in tmp_path.glob("*.json"):
        document = json.loads(path.read_text())
        jsonschema.validate(document, SCHEMA)
        assert {v["name"] for v in document["templating"]["list"]} == {"db", "platform", "organisation"}
    # The provisioned copies are the generator's output (regenerate: ccaudit dashboards grafana --out dashboards/grafana/json).
    for path in tmp_path.glob("*.json"):
        assert (ROOT / "dashboards/grafana/json" / path.name).read_text() == path.read_text(), path.name


def test_the_schema_refuses_what_grafana_would_not_load() -> None:
    document = grafana_dashboard(DASHBOARDS["overview"], 5)
    broken = {**document, "panels": [{**document["panels"][0], "gridPos": {"h": 5, "w": 30, "x": 0, "y": 0}}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


@pytest.fixture(scope="module")
def filled(chdb_client: Any) -> Store:
    import uuid

    store = Store(chdb_client, f"t_{uuid.uuid4().hex[:12]}")
    store.migrate()
    ingestor = Ingestor(Settings(), store)
    today, yesterday = days_ago_ms(0), days_ago_ms(1)
    referrers = ("", "a.example", "b.example")
    events = [view(today - 60_000 + v, v, f"/p{v % 4}", referrers[v % 3], FIREFOX if v % 5 == 0 else CHROME)
              for v in range(40)]  # fmt: skip
    events += [view(yesterday + v, v, "/p0", "a.example") for v in range(12)] + [view(yesterday, 99, "/lonely")]
    send(ingestor, events)
    send(ingestor, [view(today - 30_000 + v, v, "/p9") for v in range(7)], platform="learning")
    ops = [operation(today + i, ("org-a", "org-b", "org-c")[i % 3], ("a.edit", "a.view")[i % 2],
                     ("success", "denied", "failed")[i % 3]) for i in range(30)]  # fmt: skip
    send(ingestor, ops)
    receipts = [receipt(yesterday + i, ("accept_all", "custom", "reject_all", "withdraw")[i % 4],
                        ["analytics"] if i % 2 else [], ["marketing"] if i % 3 else []) for i in range(33)]  # fmt: skip
    send(ingestor, receipts)
    steps = [step(yesterday + i, f"learner-{i}", ("org-a", "org-b")[i % 2], ("m1", "m2")[i % 3 == 0],
                  ("registered", "initialized")[i % 2]) for i in range(26)]  # fmt: skip
    send(ingestor, steps, platform="learning")
    return store


READERS = {"admin": Role.AUDITOR, "learning": Role.OPERATOR}
K = 5


@pytest.mark.parametrize("platform", [None, "coop"])
@pytest.mark.parametrize("key", list(DASHBOARDS))
def test_grafana_and_the_console_show_the_same_numbers(filled: Store, key: str, platform: str | None) -> None:
    dashboard = DASHBOARDS[key]
    reader = account_principal("reader", READERS.get(key, Role.DPO), frozenset())
    day = datetime.now(UTC).date()
    span = Range(day - timedelta(days=6), day, platform)
    now = datetime.now(UTC).replace(microsecond=0)
    if dashboard.window_minutes:
        start, end = now - timedelta(minutes=dashboard.window_minutes), now
    else:
        start, end = (
            datetime.combine(span.start, time(), UTC),
            datetime.combine(span.end, time(23, 59, 59, 999000), UTC),
        )
    document = grafana_dashboard(dashboard, K, filled.database)
    nonempty = 0
    for panel, grafana_panel in zip(dashboard.panels, document["panels"], strict=True):
        console = panel_table(filled, reader, dashboard, panel, span, k=K, now=now)
        sql = grafana_expand(grafana_panel["targets"][0]["rawSql"], start, end,
                             {"db": filled.database, "platform": platform, "organisation": None})  # fmt: skip
        rows = query_rows(filled.client, sql)
        # Grafana drops _hide (organize) and shows a NULL figure as noValue, "<k".
        shown = [tuple(SUPPRESSED if r[-1] and v is None else v for v in r[:-1]) for r in rows]
        assert shown == [tuple(row) for row in console.rows], panel.key
        nonempty += bool(console.rows)
    assert nonempty > 0 or (platform == "coop" and key == "learning")
