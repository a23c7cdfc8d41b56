"""The view's SVG pictures: well-formed, escaped, and drawing what they are given."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from airflow_mlops.provider.plugin import charts

SVG = "{http://www.w3.org/2000/svg}"


def rects(svg: str) -> list[ET.Element]:
    return ET.fromstring(svg).findall(f".//{SVG}rect")


def test_bar_heights_follow_the_values_and_labels_are_escaped():
    svg = charts.bar_chart("accuracy <per> version", [("v1", 0.5), ("v2", 1.0)], {"v2": "champion"})
    bars = rects(svg)  # parses: well-formed XML despite the "<" in the title
    assert [float(b.get("height")) for b in bars][1] == 2 * float(bars[0].get("height"))
    assert "accuracy &lt;per&gt; version" in svg and ">champion<" in svg
    assert bars[1].get("fill") != bars[0].get("fill")  # the champion's bar stands out


def test_the_heatmap_colours_drifted_cells():
    svg = charts.drift_heatmap("drift", ["a", "b"], ["w1"], {("a", "w1"): (True, 0.0001), ("b", "w1"): (False, 0.7)})
    fills = [r.get("fill") for r in rects(svg)]
    assert fills == ["#f56565", "#9ae6b4"]
    assert ">1.0e-04<" in svg and ">0.700<" in svg


def test_share_bars_split_each_column_by_version():
    svg = charts.share_bars("traffic", [("now", {"2": 0.9, "3": 0.1}), ("w", {"2": 30, "3": 10})])
    widths = [float(r.get("width")) for r in rects(svg) if r.find(f"{SVG}title") is not None]
    assert widths == [378.0, 42.0, 315.0, 105.0]  # 90/10 % and 75/25 % of 420 px
    assert re.search(r">v3 25%<", svg)


def test_empty_pictures_say_so():
    assert "no data" in charts.bar_chart("m", [])
    assert "no monitoring window" in charts.drift_heatmap("d", [], [], {})
    assert "no traffic" in charts.share_bars("t", [("w", {})])


def test_a_picture_is_as_wide_as_its_title_needs():
    long = "drift per feature over time (score of the drift test; red: drifted)"
    pictures = [charts.drift_heatmap(long, ["a"], ["w1"], {("a", "w1"): (True, 0.01)}),
                charts.share_bars(long, [("now", {"1": 1.0})]),
                charts.bar_chart(long, [("v1", 0.5)])]
    for svg in pictures:
        width = int(ET.fromstring(svg).get("width"))
        assert width >= charts.title_width(long) > 6 * len(long)
