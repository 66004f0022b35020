"""Trend charts for the KPI page, drawn on the server: one small SVG per KPI, no script and no external resource.

A chart shows one KPI's weekly values as a line with a point per week that has a value (a week with none leaves a
gap), the target as a dashed line, a few value ticks formatted for the unit (percent for shares, s / min / h / d
for durations) and the weeks' dates. Every text is escaped; the SVG has a `<title>` and a `<desc>` that says in
words what the picture shows, so a screen reader gets the same figures."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from domain.kpis.definitions import Better, Unit
from domain.kpis.report import KpiReport

WIDTH, HEIGHT = 280, 140
# The plot area inside the picture: room on the left for value ticks, below for the weeks.
LEFT, RIGHT, TOP, BOTTOM = 46, 8, 12, 24
MAX_WEEK_LABELS = 7

LINE = "#1f5fa8"
MET = "#1b6e35"
MISSED = "#b3261e"
TARGET = "#6b7785"
GRID = "#e3e8ef"

# Nice steps between value ticks: fractions for shares and scores, clock-friendly seconds for durations.
_DECIMAL_STEPS = tuple(m * 10.0**e for e in range(-4, 7) for m in (1, 2, 2.5, 5))
_SECOND_STEPS: tuple[float, ...] = (
    *(1, 2, 5, 10, 15, 30),
    *(60 * m for m in (1, 2, 5, 10, 15, 30)),
    *(3600 * h for h in (1, 2, 3, 6, 12)),
    *(86400 * d for d in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)),
)


def format_value(value: float, unit: Unit | str) -> str:
    """A value as the page shows it: `93.4%`, `12.5 min`, `4.52`."""
    match Unit(unit):
        case Unit.SHARE:
            return f"{_trim(value * 100)}%"
        case Unit.SECONDS:
            return format_seconds(value)
        case Unit.SCORE:
            return f"{value:.2f}"


def format_seconds(seconds: float) -> str:
    if abs(seconds) < 60:
        return f"{_trim(seconds)} s"
    if abs(seconds) < 3600:
        return f"{_trim(seconds / 60)} min"
    if abs(seconds) < 48 * 3600:
        return f"{_trim(seconds / 3600)} h"
    return f"{_trim(seconds / 86400)} d"


def _trim(number: float) -> str:
    """One decimal at most, none when it is zero: 95, 93.4, 0.5."""
    text = f"{number:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _tick(value: float, unit: Unit, top: float) -> str:
    """A tick on a nice step, with the decimals it needs and no more (95%, 99.5%, 4.5); durations all in the unit
    that suits the top of the axis (0 min, 10 min, 20 min, not 0 s, 10 min)."""
    if unit is Unit.SHARE:
        return f"{round(value * 100, 6):g}%"
    if unit is Unit.SCORE:
        return f"{round(value, 6):g}"
    size, name = next(((n, u) for n, u in ((86400, "d"), (3600, "h"), (60, "min")) if top >= 2 * n), (1, "s"))
    return f"{round(value / size, 1):g} {name}"


@dataclass(frozen=True, slots=True)
class Scale:
    low: float
    high: float
    ticks: tuple[float, ...]

    def y(self, value: float) -> float:
        span = self.high - self.low
        return TOP + (HEIGHT - TOP - BOTTOM) * (1 - (value - self.low) / span)


def _bounds(unit: Unit) -> tuple[float, float]:
    if unit is Unit.SHARE:
        return 0.0, 1.0
    if unit is Unit.SCORE:
        return 0.0, 5.0
    return 0.0, math.inf


def scale(values: Sequence[float], target: float, unit: Unit) -> Scale:
    """A value axis holding every value and the target, on nice steps, within the unit's natural bounds."""
    floor, ceiling = _bounds(unit)
    low, high = min([*values, target]), max([*values, target])
    if high - low < 1e-12:
        pad = abs(high) * 0.1 or {Unit.SHARE: 0.05, Unit.SCORE: 0.5, Unit.SECONDS: 60.0}[unit]
        low, high = low - pad, high + pad
    steps = _SECOND_STEPS if unit is Unit.SECONDS else _DECIMAL_STEPS
    step = next((s for s in steps if (high - low) / s <= 4), steps[-1])
    low = max(floor, math.floor(low / step + 1e-9) * step)
    high = min(ceiling, math.ceil(high / step - 1e-9) * step)
    if high <= low:  # only when the bounds clamp both ends together; keep a visible span
        high = low + step
    count = round((high - low) / step)
    ticks = tuple(low + i * step for i in range(count + 1))
    return Scale(low, high, ticks)


def _x(index: int, count: int) -> float:
    width = WIDTH - LEFT - RIGHT
    return LEFT + (width * (index + 0.5) / count if count else 0)


def _number(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _week(day: dt.date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]}"  # not strftime: the server's locale must not change the chart


def _id(key: str) -> str:
    return "kpi-chart-" + (re.sub(r"[^A-Za-z0-9_-]", "-", key) or "x")


def trend_chart(
    *,
    key: str,
    label: str,
    unit: Unit | str,
    better: Better | str,
    target: float,
    weeks: Sequence[dt.date],
    values: Sequence[float | None],
) -> str:
    """One KPI's weekly trend as a standalone SVG document (a string), `values[i]` being the week of `weeks[i]`."""
    if len(values) != len(weeks):
        raise ValueError(f"{len(values)} values for {len(weeks)} weeks")
    unit, better = Unit(unit), Better(better)
    points = [_number(v) for v in values]
    known = [v for v in points if v is not None]
    axis = scale(known, target, unit)
    count = len(weeks)
    ident = _id(key)
    sign = "≥" if better is Better.HIGHER else "≤"
    target_text = f"{sign} {format_value(target, unit)}"

    def met(value: float) -> bool:
        return value >= target if better is Better.HIGHER else value <= target

    said = [
        f"week of {_week(w)}: "
        + (f"{format_value(v, unit)} ({'met' if met(v) else 'missed'})" if v is not None else "no data")
        for w, v in zip(weeks, points, strict=True)
    ]
    title = f"{label}: weekly trend"
    desc = f"{'; '.join(said)}. Target {target_text}, {better.value} is better."

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="kpi-chart" data-kpi="{escape(key)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(desc)}</desc>',
    ]
    for tick in axis.ticks:
        y = axis.y(tick)
        out.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
        )
        out.append(
            f'<text class="tick" x="{LEFT - 4}" y="{y + 3.5:.1f}" text-anchor="end" font-size="11" '
            f'fill="#4a5663">{escape(_tick(tick, unit, axis.high))}</text>'
        )
    every = max(1, math.ceil(count / MAX_WEEK_LABELS))
    for i, week in enumerate(weeks):
        if (count - 1 - i) % every == 0:  # always label the latest week
            out.append(
                f'<text class="week" x="{_x(i, count):.1f}" y="{HEIGHT - 8}" text-anchor="middle" '
                f'font-size="11" fill="#4a5663">{escape(_week(week))}</text>'
            )
    ty = axis.y(target)
    out.append(
        f'<line class="target" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="{TARGET}" '
        f'stroke-width="1.5" stroke-dasharray="5 4" data-value="{target!r}"><title>target {escape(target_text)}</title>'
        "</line>"
    )
    out.append(
        f'<text class="target-label" x="{WIDTH - RIGHT}" y="{ty - 3:.1f}" text-anchor="end" font-size="10" '
        f'fill="{TARGET}">target</text>'
    )
    # The line runs through consecutive weeks with a value; a week without one breaks it.
    path: list[str] = []
    previous = False
    for i, value in enumerate(points):
        if value is not None:
            path.append(f"{'L' if previous else 'M'}{_x(i, count):.1f},{axis.y(value):.1f}")
        previous = value is not None
    if path:
        out.append(
            f'<path class="trend" d="{" ".join(path)}" fill="none" stroke="{LINE}" stroke-width="2" '
            'stroke-linejoin="round"/>'
        )
    for i, (week, value) in enumerate(zip(weeks, points, strict=True)):
        if value is None:
            continue
        good = met(value)
        out.append(
            f'<circle class="point {"met" if good else "missed"}" cx="{_x(i, count):.1f}" '
            f'cy="{axis.y(value):.1f}" r="3.5" fill="{MET if good else MISSED}" stroke="#fff" '
            f'data-week="{week.isoformat()}" data-value="{value!r}"><title>{escape(said[i])}</title></circle>'
        )
    if not known:
        out.append(
            f'<text class="empty" x="{(LEFT + WIDTH - RIGHT) / 2:.1f}" y="{(TOP + HEIGHT - BOTTOM) / 2:.1f}" '
            'text-anchor="middle" font-size="11" fill="#4a5663">No data in these weeks</text>'
        )
    out.append("</svg>")
    return "".join(out)


def report_charts(report: KpiReport) -> dict[str, str]:
    """Every KPI's trend chart of one report, by KPI key."""
    return {
        k.key: trend_chart(
            key=k.key,
            label=k.label,
            unit=k.unit,
            better=k.better,
            target=k.target,
            weeks=report.weeks,
            values=k.trend,
        )
        for k in report.kpis
    }
