"""The dashboard's charts, drawn as SVG by the template from the geometry computed here: stacked
bars per time bucket, a y axis with round ticks, time ticks on the x axis, an optional limit line.
Pure: the counts come from ``sync.selectors``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

WIDTH, HEIGHT = 960, 210
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 26
X_TICKS = 6
MIN_BAR_HEIGHT = 2  # a bucket with one event still shows


@dataclass(frozen=True)
class ChartRange:
    key: str
    label: str
    span: timedelta
    bucket: timedelta
    tick_format: str  # Django date format of the x axis' labels


RANGES = {
    "24h": ChartRange("24h", "Last 24 hours", timedelta(hours=24), timedelta(minutes=5), "H:i"),
    "7d": ChartRange("7d", "Last 7 days", timedelta(days=7), timedelta(hours=1), "D H:i"),
    "30d": ChartRange("30d", "Last 30 days", timedelta(days=30), timedelta(hours=6), "M j"),
}
DEFAULT_RANGE = "24h"


def bucket_starts(*, chart_range: ChartRange, now: datetime) -> list[datetime]:
    """The starts of the range's buckets, oldest first; the last one holds ``now``."""
    size = int(chart_range.bucket.total_seconds())
    end = datetime.fromtimestamp((int(now.timestamp()) // size + 1) * size, tz=UTC)
    count = int(chart_range.span / chart_range.bucket)
    return [end - chart_range.bucket * (count - i) for i in range(count)]


def nice_ceiling(value: float) -> int:
    """The smallest 1, 2 or 5 × 10ⁿ at or above ``value`` (at least 1): a readable axis maximum."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def y_tick_values(top: int) -> list[int]:
    """Evenly spaced round ticks up to a ``nice_ceiling``: 5 → 0..5, 10 → 0, 5, 10, 50 → 0, 10, ... 50."""
    leading = int(str(top)[0])
    step = top // 5 if leading == 5 else top // 2
    return list(range(0, top + 1, step)) if step else [0, top]


@dataclass(frozen=True)
class Series:
    name: str
    css_class: str
    counts: list[int]

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True)
class Chart:
    title: str
    unit: str
    range: ChartRange
    series: list[Series]
    bars: list[dict]
    y_ticks: list[dict]
    x_ticks: list[dict]
    limit_y: float | None
    limit_label: str
    peak: int
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    plot_bottom: int = HEIGHT - BOTTOM

    @property
    def total(self) -> int:
        return sum(s.total for s in self.series)

    @property
    def has_bars(self) -> bool:
        return any(rect for bar in self.bars for rect in bar["rects"])


def stacked_bars(
    *, title: str, unit: str, chart_range: ChartRange, starts: list[datetime], series: list[Series],
    limit: float | None = None, limit_label: str = "",
) -> Chart:
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    stacked = [sum(s.counts[i] for s in series) for i in range(len(starts))]
    peak = max(stacked, default=0)
    top = nice_ceiling(max(peak, limit or 0, 1))
    slot = plot_width / max(len(starts), 1)
    bar_width = max(round(slot * 0.8, 2), 1)
    bars = []
    for index, start in enumerate(starts):
        x = round(LEFT + index * slot + (slot - bar_width) / 2, 2)
        base = HEIGHT - BOTTOM
        rects = []
        for s in series:
            n = s.counts[index]
            if not n:
                continue
            height = max(n * plot_height / top, MIN_BAR_HEIGHT)
            base -= height
            rects.append({"y": round(base, 2), "height": round(height, 2), "css_class": s.css_class, "name": s.name, "count": n})
        bars.append({"x": x, "width": bar_width, "start": start, "rects": rects, "total": stacked[index]})
    y_ticks = [{"value": value, "y": round(HEIGHT - BOTTOM - value * plot_height / top, 2)} for value in y_tick_values(top)]
    step = max(len(starts) // X_TICKS, 1)
    x_ticks = [{"x": round(LEFT + i * slot, 2), "moment": starts[i]} for i in range(0, len(starts), step)]
    limit_y = round(HEIGHT - BOTTOM - limit * plot_height / top, 2) if limit else None
    return Chart(title, unit, chart_range, series, bars, y_ticks, x_ticks, limit_y, limit_label, peak)
