"""The account page's usage chart keeps its time axis readable when a projection runs far: the
axis stops a year past the data, and the projection is drawn to there, saying when it lands."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

from headroom.web.charts import PROJECTION_SHOWN_DAYS, WIDTH, Projection, line_chart

LAST = dt.date(2026, 6, 30)
POINTS = [(LAST - dt.timedelta(days=89 - i), 100.0 + i) for i in range(90)]


def drawn(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_a_projection_years_out_is_drawn_to_a_year_past_the_data() -> None:
    far = LAST + dt.timedelta(days=1628)
    svg = drawn(line_chart("storage", POINTS, 500, Projection(far, far - dt.timedelta(1), None)))
    ns = {"s": "http://www.w3.org/2000/svg"}
    ticks = [t.text for t in svg.findall("s:text", ns) if t.get("class") == "tick"]
    assert ticks[-1] == f"{LAST + dt.timedelta(days=PROJECTION_SHOWN_DAYS):%b %d %Y}"
    (line,) = [e for e in svg.findall("s:line", ns) if e.get("class") == "projection"]
    assert float(line.get("x2", "0")) <= WIDTH  # inside the chart, at the axis's end
    said = [t.text for t in svg.findall("s:text", ns) if t.get("class") == "limit-label"]
    assert said[-1] == f"not before {LAST + dt.timedelta(days=365):%b %Y} (~{far:%Y-%m-%d})"
    # the data keeps most of the width: 90 days of 455
    path = next(e for e in svg.findall("s:path", ns) if e.get("class") == "series")
    xs = [float(v) for v in re.findall(r"[ML]([0-9.]+),", path.get("d", ""))]
    assert (max(xs) - min(xs)) / WIDTH > 0.15


def test_a_projection_within_the_year_is_drawn_to_its_day() -> None:
    on = LAST + dt.timedelta(days=60)
    svg = line_chart(
        "storage", POINTS, 500, Projection(on, on - dt.timedelta(5), on + dt.timedelta(9))
    )
    assert f"reached ~{on:%Y-%m-%d}" in svg
    assert (
        f"likely between {on - dt.timedelta(5):%Y-%m-%d} and {on + dt.timedelta(9):%Y-%m-%d}" in svg
    )
