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


#: How far past the data a chart's time axis runs for a projection.
PROJECTION_SHOWN_DAYS = 365


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
        # the axis runs to the projection, but no further than a year past the data: a date
        # years out would squash the data into a sliver (and says little anyway)
        end = max(end, projection.high or projection.on, projection.on)
        end = min(end, last + dt.timedelta(days=PROJECTION_SHOWN_DAYS))
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
    if end > last:
        parts.append(
            f'<text class="tick" x="{x(end):.1f}" y="{HEIGHT - 6}" text-anchor="end">'
            f"{end:%b %d %Y}</text>"
        )
    if limit is not None:
        ly = y(limit)
        parts.append(
            f'<line class="limit" x1="{PAD_L}" y1="{ly:.1f}" x2="{PAD_L + w}" y2="{ly:.1f}"/>'
            f'<text class="limit-label" x="{PAD_L + 4}" y="{ly - 4:.1f}">'
            f"{escape(limit_label)} {label(limit)}</text>"
        )
        if projection is not None:
            lo = projection.low or projection.on
            hi = min(projection.high or end, end)
            never = "never" if projection.high is None else f"{projection.high:%Y-%m-%d}"
            if lo <= end:
                parts.append(
                    f'<rect class="band" x="{x(lo):.1f}" y="{ly - 6:.1f}" '
                    f'width="{max(x(hi) - x(lo), 2):.1f}" height="12"><title>likely between '
                    f"{lo:%Y-%m-%d} and {never}</title></rect>"
                )
            lx, lv = points[-1]
            to, tv = projection.on, limit
            said = f"reached ~{projection.on:%Y-%m-%d}"
            if to > end:  # drawn to the axis's end, where it still climbs
                tv = lv + (limit - lv) * (end - lx).days / max((to - lx).days, 1)
                to, said = end, f"not before {end:%b %Y} (~{projection.on:%Y-%m-%d})"
            parts.append(
                f'<line class="projection" x1="{x(lx):.1f}" y1="{y(lv):.1f}" '
                f'x2="{x(to):.1f}" y2="{y(tv):.1f}"/>'
                f'<text class="limit-label" x="{x(to):.1f}" y="{ly + 16:.1f}" '
                f'text-anchor="end">{escape(said)}</text>'
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


def step_chart(
    title: str,
    series: list[tuple[str, list[tuple[float, float]]]],
    band: list[tuple[float, float, float]] | None = None,
    x_label: str = "",
) -> str:
    """Step curves of shares (0 to 100%) on a numeric x axis, each holding its value until its
    next point (as a Kaplan-Meier estimate does); ``band`` (x, low, high) is drawn behind the
    first series as its confidence interval. More than one series gets a legend."""
    points = [p for _, pts in series for p in pts]
    if not points:
        return f'<p class="empty">No {escape(title)} data.</p>'
    lo_x = min(x for x, _ in points)
    hi_x = max(x for x, _ in points)
    top = max([v for _, v in points] + [h for _, _, h in band or []])
    top = min(max(top * 1.1, 0.05), 1.0)
    w, h = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B - 10  # room for the axis label
    span = (hi_x - lo_x) or 1.0

    def x(v: float) -> float:
        return PAD_L + w * (v - lo_x) / span

    def y(v: float) -> float:
        return PAD_T + h * (1 - v / top)

    def steps(pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
        out = [pts[0]]
        for i in range(1, len(pts)):
            out += [(pts[i][0], pts[i - 1][1]), pts[i]]
        return out

    def fmt_x(v: float) -> str:
        return f"{v:g}"

    mid_x = float(round(lo_x + span / 2))  # a whole number: month 14, not 13.5

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<line class="axis" x1="{PAD_L}" y1="{PAD_T + h}" x2="{PAD_L + w}" y2="{PAD_T + h}"/>',
        f'<text class="tick" x="{PAD_L - 6}" y="{PAD_T + 4}" text-anchor="end">{top:.0%}</text>',
        f'<text class="tick" x="{PAD_L - 6}" y="{PAD_T + h}" text-anchor="end">0%</text>',
        f'<text class="tick" x="{PAD_L}" y="{PAD_T + h + 14}" text-anchor="middle">'
        f"{fmt_x(lo_x)}</text>",
        f'<text class="tick" x="{x(mid_x):.1f}" y="{PAD_T + h + 14}" text-anchor="middle">'
        f"{fmt_x(mid_x)}</text>",
        f'<text class="tick" x="{PAD_L + w}" y="{PAD_T + h + 14}" text-anchor="end">'
        f"{fmt_x(hi_x)}</text>",
    ]
    if x_label:
        parts.append(
            f'<text class="tick" x="{PAD_L + w / 2:.1f}" y="{HEIGHT - 4}" text-anchor="middle">'
            f"{escape(x_label)}</text>"
        )
    if band:
        upper = steps([(bx, hi) for bx, _, hi in band])
        lower = steps([(bx, lo) for bx, lo, _ in band])
        outline = " ".join(f"{x(px):.1f},{y(pv):.1f}" for px, pv in upper + lower[::-1])
        parts.append(
            f'<polygon class="ci" points="{outline}"><title>95% confidence interval of '
            f"{escape(series[0][0])}</title></polygon>"
        )
    for i, (name, pts) in enumerate(series):
        if not pts:
            continue
        path = " ".join(
            f"{'M' if j == 0 else 'L'}{x(px):.1f},{y(pv):.1f}"
            for j, (px, pv) in enumerate(steps(pts))
        )
        parts.append(f'<path class="series s{i}" d="{path}"><title>{escape(name)}</title></path>')
        if len(series) > 1:
            ly = PAD_T + 4 + 14 * i
            parts.append(
                f'<line class="series s{i}" x1="{PAD_L + 10}" y1="{ly:.1f}" x2="{PAD_L + 26}" '
                f'y2="{ly:.1f}"/><text class="tick" x="{PAD_L + 30}" y="{ly + 4:.1f}">'
                f"{escape(name[:28])}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def xy_chart(
    title: str,
    series: list[tuple[str, list[tuple[float, float | None]]]],
    percent: bool = True,
    x_label: str = "",
) -> str:
    """Lines through points on a numeric x axis (a horizon in days, a threshold), one per
    series, each point marked with its value as a tooltip; a point without a value (None) is
    left out. ``percent``: values are shares, drawn from 0 up to at most 100%. More than one
    series gets a legend."""
    points = [(px, v) for _, pts in series for px, v in pts if v is not None]
    if not points:
        return f'<p class="empty">No {escape(title)} data.</p>'
    xs = sorted({px for _, pts in series for px, _ in pts})
    lo_x, hi_x = xs[0], xs[-1]
    top = max(v for _, v in points)
    top = min(max(top * 1.1, 0.05), 1.0) if percent else max(top * 1.1, 1e-9)
    w, h = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B - 10  # room for the axis label
    span = (hi_x - lo_x) or 1.0
    value = (lambda v: f"{v:.1%}") if percent else _fmt

    def x(v: float) -> float:
        return PAD_L + w * (v - lo_x) / span if hi_x > lo_x else PAD_L + w / 2

    def y(v: float) -> float:
        return PAD_T + h * (1 - v / top)

    parts = [
        f'<svg class="chart xy" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<line class="axis" x1="{PAD_L}" y1="{PAD_T + h}" x2="{PAD_L + w}" y2="{PAD_T + h}"/>',
        f'<text class="tick" x="{PAD_L - 6}" y="{PAD_T + 4}" text-anchor="end">'
        f"{f'{top:.0%}' if percent else _fmt(top)}</text>",
        f'<text class="tick" x="{PAD_L - 6}" y="{PAD_T + h}" text-anchor="end">0</text>',
    ]
    shown = xs if len(xs) <= 8 else [xs[0], xs[len(xs) // 2], xs[-1]]
    for px in shown:  # ticks at the points themselves: horizons and thresholds are few
        anchor = "start" if px == lo_x and len(xs) > 1 else "end" if px == hi_x else "middle"
        parts.append(
            f'<text class="tick" x="{x(px):.1f}" y="{PAD_T + h + 14}" text-anchor="{anchor}">'
            f"{px:g}</text>"
        )
    if x_label:
        parts.append(
            f'<text class="tick" x="{PAD_L + w / 2:.1f}" y="{HEIGHT - 4}" text-anchor="middle">'
            f"{escape(x_label)}</text>"
        )
    for i, (name, pts) in enumerate(series):
        kept = [(px, v) for px, v in pts if v is not None]
        if not kept:
            continue
        path = " ".join(
            f"{'M' if j == 0 else 'L'}{x(px):.1f},{y(v):.1f}" for j, (px, v) in enumerate(kept)
        )
        parts.append(f'<path class="line c{i}" d="{path}"/>')
        for px, v in kept:
            parts.append(
                f'<circle class="dot c{i}" cx="{x(px):.1f}" cy="{y(v):.1f}" r="3">'
                f"<title>{escape(name)} at {px:g}: {value(v)}</title></circle>"
            )
        if len(series) > 1:
            ly = PAD_T + 4 + 14 * i
            lx = PAD_L + w - 120
            parts.append(
                f'<line class="line c{i}" x1="{lx}" y1="{ly:.1f}" x2="{lx + 16}" y2="{ly:.1f}"/>'
                f'<text class="tick" x="{lx + 20}" y="{ly + 4:.1f}">{escape(name[:20])}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
