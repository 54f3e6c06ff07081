"""The geometry of the statistics page's charts, drawn as SVG by the template
(no chart library): horizontal bars, one row per value, the label on the
left and the figure at the end of its bar. Horizontal bars keep every label
readable on a phone's width as on a desktop's. Pure functions, no Flask."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

WIDTH = 324
LABEL_WIDTH = 116
VALUE_WIDTH = 40
ROW = 32
BAR = 20
TOP = 6
BOTTOM = 6
MAX_LABEL_CHARS = 13


@dataclass(frozen=True)
class Bar:
    key: str
    label: str
    short_label: str
    value: float
    x: float
    y: float
    width: float
    height: float
    label_x: float
    text_y: float
    value_x: float


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    axis_x: float
    axis_top: float
    axis_bottom: float
    bars: list[Bar]

    @property
    def total(self) -> float:
        return sum(b.value for b in self.bars)


def shorten(label: str, limit: int = MAX_LABEL_CHARS) -> str:
    """``label`` cut to ``limit`` characters with an ellipsis (the full one is in the table)."""
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def horizontal_bars(items: Iterable[tuple[str, str, float]], *, width: int = WIDTH,
                    label_width: int = LABEL_WIDTH, value_width: int = VALUE_WIDTH,
                    row: int = ROW, bar: int = BAR) -> Chart:
    """``items`` as ``(key, label, value)``; the longest bar is the largest
    value, every other in proportion; a value above zero is never thinner
    than 2 units, so it stays visible next to a large one."""
    items = list(items)
    area = width - label_width - value_width
    largest = max((max(0.0, float(v)) for _k, _l, v in items), default=0.0) or 1.0
    bars = []
    for index, (key, label, value) in enumerate(items):
        value = max(0.0, float(value))
        length = area * value / largest
        if value > 0:
            length = max(length, 2.0)
        y = TOP + index * row + (row - bar) / 2
        bars.append(Bar(
            key=key, label=label, short_label=shorten(label), value=value,
            x=float(label_width), y=y, width=round(length, 2), height=float(bar),
            label_x=float(label_width - 8), text_y=y + bar / 2, value_x=round(label_width + length + 6, 2),
        ))
    height = TOP + BOTTOM + max(1, len(items)) * row
    return Chart(width=width, height=height, axis_x=float(label_width), axis_top=float(TOP),
                 axis_bottom=float(height - BOTTOM), bars=bars)


def figure(value: float) -> str:
    """A count as the chart prints it (no ``.0``)."""
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


METER_WIDTH = 80
METER_HEIGHT = 8


def meter(percentage: float | None, width: int = METER_WIDTH) -> float | None:
    """The filled length of a table row's small bar for a percentage (0 to
    100, anything beyond held there): a share above zero is never thinner
    than 2 units; None when there is no share to draw (nothing counted)."""
    if percentage is None:
        return None
    share = min(100.0, max(0.0, float(percentage)))
    length = width * share / 100
    return round(max(length, 2.0) if share > 0 else 0.0, 2)
