"""The charts' geometry: axes on round numbers, gaps at suppressed cells, bars to scale, trends."""

from __future__ import annotations

import math
import re

from hypothesis import given
from hypothesis import strategies as st

from ccaudit.console.charts import HEIGHT, LEFT, TOP, WIDTH, bar_chart, line_chart, nice_ceiling, trend

_POINT = re.compile(r"[ML](-?[0-9.]+),(-?[0-9.]+)")


@given(st.floats(min_value=1e-3, max_value=1e12, allow_nan=False))
def test_the_axis_top_is_a_round_number_at_least_the_largest_value(value: float) -> None:
    top = nice_ceiling(value)
    assert top >= value * (1 - 1e-9)
    mantissa = top / 10 ** math.floor(math.log10(top))
    assert round(mantissa, 6) in (1.0, 2.0, 2.5, 5.0, 10.0)
    assert top < value * 10.0001


def test_an_empty_or_zero_axis_still_has_a_top() -> None:
    assert nice_ceiling(0) == 1.0
    assert nice_ceiling(-3) == 1.0


@given(st.lists(st.one_of(st.none(), st.integers(min_value=0, max_value=10**9)), min_size=1, max_size=120))
def test_every_point_of_a_line_lies_inside_the_plot(values: list[int | None]) -> None:
    chart = line_chart([str(i) for i in range(len(values))], values, values[::-1])
    for line in chart.lines:
        for x, y in _POINT.findall(line.path):
            assert LEFT - 0.1 <= float(x) <= WIDTH + 0.1
            assert TOP - 0.1 <= float(y) <= chart.plot_bottom + 0.1 < HEIGHT


def test_a_suppressed_value_breaks_the_line_instead_of_drawing_a_guess() -> None:
    chart = line_chart(["a", "b", "c", "d"], [4, None, 6, 8])
    path = chart.lines[0].path
    assert path.count("M") == 2
    assert path.count("L") == 1
    assert not chart.empty


def test_the_previous_period_is_a_second_dashed_series_on_the_same_axis() -> None:
    chart = line_chart(["d1", "d2"], [10, 20], [40, 0], ("this period", "previous period"))
    current, previous = chart.lines
    assert (current.previous, previous.previous) == (False, True)
    assert chart.y_ticks[-1].label == "50"  # the axis holds the larger series
    ys = [float(y) for _, y in _POINT.findall(previous.path)]
    assert ys[1] == chart.plot_bottom  # 0 sits on the axis
    assert [t.label for t in chart.x_ticks] == ["d1", "d2"]


def test_a_chart_with_no_value_is_empty() -> None:
    assert line_chart(["a", "b"], [None, None]).empty
    assert bar_chart([("a", None), ("b", 0)]).empty


def test_bars_are_scaled_to_the_largest_and_a_suppressed_one_is_labelled() -> None:
    chart = bar_chart([("/home", 200), ("/about", 50), ("/rare", None)], suppressed="<5")
    home, about, rare = chart.bars
    assert home.width == 4 * about.width
    assert rare.width == 0
    assert rare.value_label == "<5"
    assert home.value_label == "200"
    assert about.y > home.y


def test_trends_against_the_previous_period() -> None:
    assert trend(120, 100) == trend(12, 10)
    assert (trend(120, 100).direction, trend(120, 100).percent) == ("up", "+20%")
    assert (trend(50, 100).direction, trend(50, 100).percent) == ("down", "-50%")
    assert trend(100, 100).direction == "flat"
    assert (trend(3, 0).direction, trend(3, 0).percent) == ("up", "")
    assert (trend(None, 10).direction, trend(10, None).percent) == ("", "")
