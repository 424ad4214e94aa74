"""The geometry of the console's charts, drawn as inline SVG by ``templates/_charts.html``.

No chart library and nothing fetched (R8): a line chart (a trend, the previous period as a second,
dashed series), horizontal bars (a top list) and stat tiles (a figure and its change against the
previous period). The functions here only compute coordinates and labels, so they are tested without
a browser; the template turns them into ``<svg role="img">`` with a ``<title>`` and a ``<desc>``,
and the table under every chart carries the data itself for screen readers and for the CSV.

A value that is ``None`` is a suppressed cell ("<5"): a line chart leaves a gap there instead of
drawing a guess, a bar chart draws no bar and labels it "<5", a tile shows "<5" and no change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 640
HEIGHT = 220
# Room for the value axis' labels on the left and the day labels below.
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 28
BAR_ROW = 26  # px per bar of a top list
BAR_LABEL = 200  # px for the labels left of the bars
BAR_VALUE = 64  # px for the values right of the bars


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten that is at least ``value`` (1 for 0 or less):
    the top of the value axis, so that its ticks are round numbers."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if step * power >= value * (1 - 1e-12):
            return step * power
    return 10.0 * power  # pragma: no cover - the loop ends at ten times the power, which always suffices


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True, slots=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True, slots=True)
class Line:
    """One series: an SVG path (``M``/``L`` commands; a suppressed value starts a new segment)."""

    name: str
    path: str
    previous: bool


@dataclass(frozen=True, slots=True)
class LineChart:
    width: int
    height: int
    lines: tuple[Line, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int

    @property
    def empty(self) -> bool:
        return not any(line.path for line in self.lines)


def _path(values: Sequence[float | None], x_of: Sequence[float], y_of: float, top: float) -> str:
    parts: list[str] = []
    pen_down = False
    for value, x in zip(values, x_of, strict=False):
        if value is None:
            pen_down = False
            continue
        y = y_of - (value / top) * (y_of - TOP)
        parts.append(f"{'L' if pen_down else 'M'}{x:.1f},{y:.1f}")
        pen_down = True
    return " ".join(parts)


def line_chart(
    labels: Sequence[str],
    current: Sequence[float | None],
    previous: Sequence[float | None] | None = None,
    names: tuple[str, str] = ("", ""),
) -> LineChart:
    """A trend over ``labels`` (one per point, e.g. days); ``previous`` (the period before, point by
    point) is drawn as a second series on the same axes."""
    series = [current] + ([previous] if previous is not None else [])
    top = nice_ceiling(max((v for s in series for v in s if v is not None), default=0.0))
    plot_bottom = HEIGHT - BOTTOM
    plot_right = WIDTH - RIGHT
    count = len(labels)
    step = (plot_right - LEFT) / (count - 1) if count > 1 else 0.0
    xs = [LEFT + i * step if count > 1 else (LEFT + plot_right) / 2 for i in range(count)]
    lines = [Line(names[0], _path(current, xs, plot_bottom, top), False)]
    if previous is not None:
        lines.append(Line(names[1], _path(previous, xs, plot_bottom, top), True))
    y_ticks = tuple(
        Tick(plot_bottom - fraction * (plot_bottom - TOP), _number(top * fraction)) for fraction in (0.0, 0.5, 1.0)
    )
    shown = sorted({0, count // 2, count - 1}) if count else []
    x_ticks = tuple(Tick(xs[i], labels[i]) for i in shown)
    return LineChart(WIDTH, HEIGHT, tuple(lines), y_ticks, x_ticks, LEFT, plot_right, TOP, plot_bottom)


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value_label: str
    y: float
    width: float  # 0 for a suppressed or zero value


@dataclass(frozen=True, slots=True)
class BarChart:
    width: int
    height: int
    bars: tuple[Bar, ...]
    bar_left: int
    bar_height: int
    value_left: int

    @property
    def empty(self) -> bool:
        return not any(bar.width > 0 for bar in self.bars)


def bar_chart(rows: Sequence[tuple[str, float | None]], suppressed: str = "<5") -> BarChart:
    """Horizontal bars, one per ``(label, value)`` in the given order, scaled to the largest value."""
    span = WIDTH - BAR_LABEL - BAR_VALUE
    top = max((v for _, v in rows if v is not None), default=0.0)
    bars = []
    for i, (label, value) in enumerate(rows):
        width = 0.0 if value is None or top <= 0 else max(span * value / top, 1.0 if value > 0 else 0.0)
        bars.append(Bar(label, suppressed if value is None else _number(value), i * BAR_ROW + 4, width))
    height = max(len(rows), 1) * BAR_ROW + 8
    return BarChart(WIDTH, height, tuple(bars), BAR_LABEL, BAR_ROW - 8, WIDTH - BAR_VALUE + 6)


@dataclass(frozen=True, slots=True)
class Trend:
    """A figure against the same figure of the previous period."""

    direction: str  # "up", "down", "flat", or "" when there is nothing to compare
    percent: str  # "+12%", "-3%", "0%"; "" from nothing (no percentage of zero) or with nothing to compare


def trend(current: float | None, previous: float | None) -> Trend:
    """The change from ``previous`` to ``current``; none when either is suppressed (None)."""
    if current is None or previous is None:
        return Trend("", "")
    if previous == 0:
        return Trend("flat", "0%") if current == 0 else Trend("up", "")
    change = (current - previous) / previous * 100
    rounded = round(change)
    if rounded == 0:
        return Trend("flat", "0%")
    return Trend("up" if rounded > 0 else "down", f"{rounded:+d}%")
