"""The report's bar charts (tfclaims.plots): drawn to scale, labels never cut off, whole-number
ticks, text escaped, the same bytes for the same numbers."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from tfclaims.plots import hbars, text_width, window_bars

NS = {"s": "http://www.w3.org/2000/svg"}


def _tree(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # well-formed XML, or this raises


def test_bars_are_to_scale_and_long_labels_wrap_inside_the_margin():
    labels = ["Short", "A headline label far longer than thirty-four characters, in three lines or so", "Ünïcödé £ label"]
    svg = hbars("t", labels, [("families", [10, 25, 5], "#0072B2")], xlabel="families")
    root = _tree(svg)
    bars = root.findall("s:rect", NS)
    assert [b.find("s:title", NS).text.rsplit(": ", 1)[1] for b in bars] == ["10 families", "25 families", "5 families"]
    widths = [float(b.get("width")) for b in bars]
    assert widths[1] / widths[0] == pytest.approx(2.5, rel=1e-3) and widths[2] / widths[0] == pytest.approx(0.5, rel=1e-3)
    left = float(bars[0].get("x"))
    spans = [s for t in root.findall("s:text", NS) for s in t.findall("s:tspan", NS)]
    assert len(spans) > len(labels)  # the long one wrapped
    assert all(text_width(s.text, 13) <= left - 8 + 0.01 for s in spans)  # every line fits left of the bars
    assert max(float(b.get("x")) + float(b.get("width")) for b in bars) + text_width("25", 12) + 6 <= 640


def test_ticks_are_whole_numbers_from_zero_in_even_steps():
    for top, expect_step in ((3, 1), (16, 5), (98, 20), (4119, 1000)):
        svg = hbars("t", ["a"], [("n", [top], "#000")], xlabel="n")
        ticks = [int(t.replace(",", "")) for t in re.findall(r'text-anchor="middle" font-size="12">([0-9,]+)</text>', svg)]
        steps = {b - a for a, b in zip(ticks, ticks[1:])}
        assert ticks[0] == 0 and steps == {expect_step} and ticks[-1] >= top * 0.5


def test_text_is_escaped_and_the_same_numbers_give_the_same_bytes():
    svg = hbars("x", ["<script>alert(1)</script> & co"], [("a", [1], "#000"), ("b", [2], "#111")], xlabel="<i>")
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&lt;i&gt;" in svg
    _tree(svg)
    assert svg == hbars("x", ["<script>alert(1)</script> & co"], [("a", [1], "#000"), ("b", [2], "#111")], xlabel="<i>")
    assert svg.count("<rect") == 2 + 2  # two stacked bars and two legend swatches


def test_window_bars_stack_upwards_with_the_running_total_and_the_allocation():
    svg = window_bars("w", ["30 Sep 2019", "31 Mar 2020"],
                      [("claimed", [30, 16], "#00f", False), ("draft", [0, 12], "#0ff", False), ("withdrawn", [4, 0], "#888", True)],
                      to_date=[30, 58], to_date_colour="#f80", allocation=90, allocation_colour="#f00")
    root = _tree(svg)
    bars = [r for r in root.findall("s:rect", NS) if r.find("s:title", NS) is not None]
    height = {r.find("s:title", NS).text: float(r.get("height")) for r in bars}
    assert height["31 Mar 2020: 16 claimed"] / height["30 Sep 2019: 30 claimed"] == pytest.approx(16 / 30, rel=1e-3)
    assert height["31 Mar 2020: 12 draft"] / height["30 Sep 2019: 4 withdrawn"] == pytest.approx(3, rel=1e-3)
    claimed_2020 = next(r for r in bars if r.find("s:title", NS).text == "31 Mar 2020: 16 claimed")
    draft_2020 = next(r for r in bars if r.find("s:title", NS).text == "31 Mar 2020: 12 draft")
    assert float(draft_2020.get("y")) + float(draft_2020.get("height")) == pytest.approx(float(claimed_2020.get("y")), abs=0.02)  # stacked on top
    assert set(re.findall(r"url\(#([^)]+)\)", svg)) == {"w-hatch"} and 'id="w-hatch"' in svg
    assert "allocation (90)" in svg and 'stroke-dasharray="5 3"' in svg
    points = root.find("s:polyline", NS).get("points").split()
    assert len(points) == 2 and float(points[1].split(",")[1]) < float(points[0].split(",")[1])  # the total rises
