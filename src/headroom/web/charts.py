"""Small SVG charts drawn on the server: no script and no network needed to see them.

``line_chart`` draws a daily series, a limit as a dashed line, and a projection: a dashed line
from the last value to the limit on the projected day, with the 80% interval of that day as a
band. Text is escaped; numbers are formatted here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 560, 180
PAD_L, PAD_R, PAD_T, PAD_B = 48, 12, 12, 24


@dataclass(frozen=True)
class Projection:
    on: dt.date  # the projected day the limit is reached
    low: dt.date | None  # the 80% interval's earliest day
    high: dt.date | None  # its latest (None: it may never be reached)


def _fmt(v: float) -> str:
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.0%}" if 0 < abs(v) <= 1.5 and v != round(v) else f"{v:g}"


def line_chart(
    title: str,
    points: list[tuple[dt.date, float]],
    limit: float | None = None,
    projection: Projection | None = None,
    percent: bool = False,
    limit_label: str = "limit",
) -> str:
    """An SVG line chart (``percent``: values are shares, drawn against 100%); ``limit`` is
    drawn as a dashed line labelled ``limit_label`` and its value."""
    if not points:
        return f'<p class="empty">No {escape(title)} data.</p>'
    first, last = points[0][0], points[-1][0]
    end = last
    if projection is not None:
        end = max(end, projection.high or projection.on, projection.on)
    top = max([v for _, v in points] + ([limit] if limit is not None else []))
    top = max(top * 1.1, 1.0 if percent else 1e-9)
    span = max((end - first).days, 1)
    w, h = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B

    def x(d: dt.date) -> float:
        return PAD_L + w * (d - first).days / span

    def y(v: float) -> float:
        return PAD_T + h * (1 - v / top)

    label = (lambda v: f"{v:.0%}") if percent else _fmt
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<line class="axis" x1="{PAD_L}" y1="{PAD_T + h}" x2="{PAD_L + w}" y2="{PAD_T + h}"/>',
        f'<text class="tick" x="{PAD_L - 6}" y="{PAD_T + 4}" text-anchor="end">{label(top)}</text>',
        f'<text class="tick" x="{PAD_L - 6}" y="{PAD_T + h}" text-anchor="end">0</text>',
        f'<text class="tick" x="{PAD_L}" y="{HEIGHT - 6}">{first:%b %d}</text>',
        f'<text class="tick" x="{x(last):.1f}" y="{HEIGHT - 6}" '
        f'text-anchor="{"end" if last == end else "middle"}">{last:%b %d}</text>',
    ]
    if limit is not None:
        ly = y(limit)
        parts.append(
            f'<line class="limit" x1="{PAD_L}" y1="{ly:.1f}" x2="{PAD_L + w}" y2="{ly:.1f}"/>'
            f'<text class="limit-label" x="{PAD_L + 4}" y="{ly - 4:.1f}">'
            f"{escape(limit_label)} {label(limit)}</text>"
        )
        if projection is not None:
            lo = projection.low or projection.on
            hi = projection.high or end
            parts.append(
                f'<rect class="band" x="{x(lo):.1f}" y="{ly - 6:.1f}" '
                f'width="{max(x(hi) - x(lo), 2):.1f}" height="12"><title>likely between '
                f"{lo:%Y-%m-%d} and {'never' if projection.high is None else f'{hi:%Y-%m-%d}'}"
                "</title></rect>"
            )
            lx, lv = points[-1]
            parts.append(
                f'<line class="projection" x1="{x(lx):.1f}" y1="{y(lv):.1f}" '
                f'x2="{x(projection.on):.1f}" y2="{ly:.1f}"/>'
                f'<text class="limit-label" x="{x(projection.on):.1f}" y="{ly + 16:.1f}" '
                f'text-anchor="end">reached ~{projection.on:%Y-%m-%d}</text>'
            )
    path = " ".join(
        f"{'M' if i == 0 else 'L'}{x(d):.1f},{y(v):.1f}" for i, (d, v) in enumerate(points)
    )
    parts.append(f'<path class="series" d="{path}"/>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(title: str, rows: list[tuple[str, float]], money: bool = True) -> str:
    """Horizontal bars, largest first as given, each labelled with its value."""
    if not rows:
        return f'<p class="empty">Nothing {escape(title)} yet.</p>'
    top = max(max(v for _, v in rows), 0.0) or 1.0  # a negative value draws no bar
    bar_h, gap, label_w = 18, 6, 170
    height = len(rows) * (bar_h + gap) + gap
    w = WIDTH - label_w - 90
    parts = [
        f'<svg class="chart bars" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (name, v) in enumerate(rows):
        y = gap + i * (bar_h + gap)
        width = max(w * max(v, 0.0) / top, 1)
        value = f"{v:,.0f}" if money else _fmt(v)
        parts.append(
            f'<text class="tick" x="{label_w - 8}" y="{y + 13}" text-anchor="end">'
            f"{escape(name[:28])}</text>"
            f'<rect class="bar" x="{label_w}" y="{y}" width="{width:.1f}" height="{bar_h}"/>'
            f'<text class="tick" x="{label_w + width + 6:.1f}" y="{y + 13}">{value}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
