"""A dashboard page's query string: defaults, presets, custom periods, and refusals that name the
parameter; whatever is asked, a choice stays within today, two years and the reader's organisations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccaudit.console.dashboard_params import MAX_DAYS, NAMES, PRESETS, BadChoice, parse_choice

TODAY = datetime.now(UTC).date()
MINE = frozenset({"gemeente-a"})


def test_the_default_is_the_last_30_days_against_the_30_before() -> None:
    choice = parse_choice([], TODAY, False, None)
    assert (choice.start, choice.end) == (TODAY - timedelta(days=29), TODAY)
    assert choice.compare
    assert (choice.platform, choice.organisation) == ("", "")


@pytest.mark.parametrize(("preset", "days"), list(PRESETS.items()))
def test_each_preset_ends_today_and_lasts_its_days(preset: str, days: int) -> None:
    choice = parse_choice([("range", preset)], TODAY, False, None)
    assert choice.end == TODAY
    assert (choice.end - choice.start).days + 1 == days


def test_a_custom_period_is_taken_as_given_and_given_back_by_its_query() -> None:
    start, end = TODAY - timedelta(days=100), TODAY - timedelta(days=10)
    pairs = [("range", "custom"), ("start", start.isoformat()), ("end", end.isoformat()), ("compare", "none"),
             ("platform", "coop"), ("organisation", "gemeente-a")]  # fmt: skip
    choice = parse_choice(pairs, TODAY, True, MINE)
    assert (choice.start, choice.end, choice.compare) == (start, end, False)
    assert parse_choice(list(choice.query().items()), TODAY, True, MINE) == choice


@pytest.mark.parametrize(
    ("pairs", "name", "reason"),
    [
        ([("range", "1y")], "range", "bad_range"),
        ([("range", "custom"), ("end", TODAY.isoformat())], "start", "bad_missing"),
        ([("range", "custom"), ("start", TODAY.isoformat())], "end", "bad_missing"),
        ([("range", "custom"), ("start", "2020-1-1"), ("end", TODAY.isoformat())], "start", "bad_date"),
        ([("range", "custom"), ("start", TODAY.isoformat()), ("end", (TODAY + timedelta(days=1)).isoformat())],
         "end", "bad_future"),
        ([("range", "custom"), ("start", TODAY.isoformat()), ("end", (TODAY - timedelta(days=1)).isoformat())],
         "start", "bad_order"),
        ([("range", "custom"), ("start", (TODAY - timedelta(days=MAX_DAYS)).isoformat()), ("end", TODAY.isoformat())],
         "start", "bad_span"),
        ([("range", "30d"), ("end", TODAY.isoformat())], "end", "bad_not_custom"),
        ([("compare", "yes")], "compare", "bad_compare"),
        ([("platform", "../etc")], "platform", "bad_platform"),
        ([("organisation", "gemeente-b")], "organisation", "bad_organisation"),
        ([("range", "7d"), ("range", "7d")], "range", "bad_twice"),
        ([("limit", "5")], "limit", "bad_unknown"),
    ],
)  # fmt: skip
def test_a_bad_parameter_is_refused_by_name(pairs: list[tuple[str, str]], name: str, reason: str) -> None:
    with pytest.raises(BadChoice) as refused:
        parse_choice(pairs, TODAY, True, MINE)
    assert (refused.value.name, refused.value.reason) == (name, reason)


def test_an_organisation_is_refused_on_a_dashboard_that_is_not_per_organisation() -> None:
    with pytest.raises(BadChoice) as refused:
        parse_choice([("organisation", "gemeente-a")], TODAY, False, MINE)
    assert refused.value.reason == "bad_not_per_organisation"


_DAYS = st.dates(min_value=TODAY - timedelta(days=3 * 366), max_value=TODAY + timedelta(days=30)).map(str)
_VALUE = st.one_of(st.sampled_from([*PRESETS, "custom", "none", "previous", "coop", "gemeente-a", "gemeente-b", ""]),
                   _DAYS, st.text(max_size=20))  # fmt: skip
_NAME = st.one_of(st.sampled_from(NAMES), st.text(max_size=8))


@given(st.lists(st.tuples(_NAME, _VALUE), max_size=7), st.booleans())
def test_whatever_is_asked_a_choice_stays_within_its_bounds(pairs: list[tuple[str, str]], scoped: bool) -> None:
    organisations = MINE if scoped else None
    refused: BadChoice | None = None
    try:
        choice = parse_choice(pairs, TODAY, True, organisations)
    except BadChoice as exc:
        refused = exc
    if refused is not None:
        assert refused.name in {name[:64] for name, _ in pairs} | {"start", "end"}
        return
    assert choice.start <= choice.end <= TODAY
    assert (choice.end - choice.start).days < MAX_DAYS
    if scoped:
        assert choice.organisation in {"", "gemeente-a"}
