"""Small-cell suppression, the one SQL wrapper both renderers run: over any table, no figure of
fewer than k people is shown, and no single hidden row can be recovered from a total by subtraction."""

from __future__ import annotations

from typing import Any

from clickhouse_connect.driver.client import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccaudit.dashboards.model import Column
from ccaudit.dashboards.sql import suppressed
from ccaudit.store.client import query_rows

COLUMNS = (
    Column("label", {"nl": "l", "fr": "l", "en": "l"}, "dimension"),
    Column("visitors", {"nl": "v", "fr": "v", "en": "v"}, "visitors"),
    Column("views", {"nl": "p", "fr": "p", "en": "p"}, "count"),
)
INNER = (
    "SELECT t.1 AS label, t.2 AS visitors, t.3 AS views FROM (SELECT arrayJoin(arrayZip("
    "{labels:Array(String)}, {visitors:Array(UInt64)}, {views:Array(UInt64)})) AS t)"
)


def run(client: Client, rows: list[tuple[int, int]], k: int) -> list[tuple[Any, ...]]:
    params = {"labels": [f"r{i}" for i in range(len(rows))], "visitors": [v for v, _ in rows],
              "views": [p for _, p in rows], "k": k}  # fmt: skip
    return [tuple(r) for r in query_rows(client, suppressed(INNER, COLUMNS, "{k:UInt32}"), params)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 500)), max_size=12),
    k=st.integers(2, 10),
)
def test_no_small_figure_shows_and_no_single_row_is_hidden(
    chdb_client: Client, rows: list[tuple[int, int]], k: int
) -> None:
    out = run(chdb_client, rows, k)
    assert [r[0] for r in out] == [f"r{i}" for i in range(len(rows))]  # every row, in order
    hidden = [i for i, r in enumerate(out) if r[3]]
    for i, (_label, visitors, views, hide) in enumerate(out):
        if hide:
            assert visitors is None
            assert views is None
        else:
            assert (visitors, views) == rows[i]
            assert not 0 < visitors < k
    small = [i for i, (v, _) in enumerate(rows) if 0 < v < k]
    assert set(small) <= set(hidden)
    # A total of a column minus the rows shown gives the sum of the hidden rows: it counts k people
    # or more, unless no shown row counts anyone (then nothing could be hidden in its place).
    if hidden:
        shown_people = [rows[i][0] for i in range(len(rows)) if i not in hidden]
        assert sum(rows[i][0] for i in hidden) >= k or not any(shown_people)
    if small and sum(rows[i][0] for i in small) < k:
        others = [i for i in range(len(rows)) if i not in small and rows[i][0] > 0]
        extra = [min(others, key=lambda i: (rows[i][0], i))] if others else []
        assert hidden == sorted([*small, *extra])
    else:
        assert hidden == small


def test_an_example_table(chdb_client: Client) -> None:
    out = run(chdb_client, [(40, 90), (3, 4), (12, 20), (0, 0)], 5)
    # r1 is small; r2 is hidden in its place (the fewest people but some), not r3 (nobody).
    assert out == [("r0", 40, 90, False), ("r1", None, None, True), ("r2", None, None, True), ("r3", 0, 0, False)]
    # Two small rows counting 2 people in all: a third row joins them.
    out = run(chdb_client, [(1, 1), (1, 3), (30, 40), (9, 9)], 5)
    assert [r[3] for r in out] == [True, True, False, True]
