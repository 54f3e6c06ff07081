"""The geometry of the statistics page's SVG bars."""
from __future__ import annotations

from portal import charts


def test_the_largest_value_fills_the_bar_area_and_the_others_are_in_proportion():
    chart = charts.horizontal_bars([("a", "A", 10), ("b", "B", 5), ("c", "C", 0)], width=300, label_width=100,
                                   value_width=40)
    area = 300 - 100 - 40
    widths = [b.width for b in chart.bars]
    assert widths == [area, area / 2, 0]
    assert all(b.x == 100 for b in chart.bars)
    assert chart.total == 15


def test_rows_are_stacked_at_a_fixed_pitch_and_the_chart_holds_them_all():
    chart = charts.horizontal_bars([(str(i), str(i), i) for i in range(4)], row=30, bar=20)
    ys = [b.y for b in chart.bars]
    assert [y2 - y1 for y1, y2 in zip(ys, ys[1:])] == [30, 30, 30]
    assert chart.height == charts.TOP + charts.BOTTOM + 4 * 30
    last = chart.bars[-1]
    assert last.y + last.height <= chart.axis_bottom <= chart.height
    assert all(b.text_y == b.y + b.height / 2 for b in chart.bars)


def test_a_small_value_stays_visible_and_its_figure_sits_after_its_bar():
    chart = charts.horizontal_bars([("a", "A", 10_000), ("b", "B", 1)])
    small = chart.bars[1]
    assert small.width == 2.0
    assert small.value_x == small.x + small.width + 6
    assert all(b.value_x <= chart.width for b in chart.bars)


def test_all_zero_or_no_values_draw_no_bar_and_no_division_by_zero():
    assert [b.width for b in charts.horizontal_bars([("a", "A", 0), ("b", "B", 0)]).bars] == [0, 0]
    empty = charts.horizontal_bars([])
    assert empty.bars == [] and empty.height > 0


def test_long_labels_are_shortened_for_the_chart_only():
    chart = charts.horizontal_bars([("e1", "Maximiliana Fernández-Villaverde", 3)])
    assert chart.bars[0].label == "Maximiliana Fernández-Villaverde"
    assert chart.bars[0].short_label.endswith("…") and len(chart.bars[0].short_label) <= charts.MAX_LABEL_CHARS
    assert charts.figure(3.0) == "3" and charts.figure(2.5) == "2.5"
