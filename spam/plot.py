"""nspam and nham over time against the 200/200 line, as a small server-rendered SVG. Pure."""

from __future__ import annotations

from datetime import datetime
from html import escape

from dms_admin import charts

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 48, 30, 40  # room for the counts, the last date, the legend, the dates


def bayes_svg(points: list[tuple[datetime, int, int]], minimum: int = 200) -> str:
    """`points` are (when, nspam, nham), oldest first; the dashed line is the count Bayes needs."""
    if not points:
        return ""
    scale = charts.ticks(max(minimum * 1.25, *(max(s, h) for _, s, h in points)))
    top = scale[-1]
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    base = TOP + inner_h
    step = inner_w / max(len(points) - 1, 1)

    def x(i: int) -> float:
        return LEFT + (i * step if len(points) > 1 else inner_w / 2)

    def y(value: float) -> float:
        return base - inner_h * value / top

    def line(values: list[int]) -> str:
        return " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))

    last = points[-1]
    summary = f"{len(points)} training run(s); now {last[1]} spam and {last[2]} ham, {minimum} of each needed"
    parts = [
        f'<svg class="bayes-plot chart" role="img" aria-labelledby="bayes-plot-t bayes-plot-d" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="bayes-plot-t">Learned spam and ham over time; Bayes is used from {minimum} of each</title>',
        f'<desc id="bayes-plot-d">{escape(summary)}</desc>',
    ]
    for value in scale:
        parts.append(f'<line class="grid" x1="{LEFT}" y1="{y(value):.1f}" x2="{WIDTH - RIGHT}" y2="{y(value):.1f}"/>')
        label = charts.tick_text(value)
        parts.append(f'<text class="tick" x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end">{label}</text>')
    parts += [
        f'<line class="axis" x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}"/>',
        f'<line x1="{LEFT}" y1="{y(minimum):.1f}" x2="{WIDTH - RIGHT}" y2="{y(minimum):.1f}" class="threshold"/>',
        f'<text x="{LEFT + 6}" y="{y(minimum) - 5:.1f}" class="legend">{minimum} needed</text>',
        f'<polyline class="nspam" fill="none" points="{line([p[1] for p in points])}"/>',
        f'<polyline class="nham" fill="none" points="{line([p[2] for p in points])}"/>',
    ]
    for i, (at, nspam, nham) in enumerate(points):
        label = escape(f"{at:%Y-%m-%d %H:%M} UTC: {nspam} spam, {nham} ham")
        parts.append(f'<circle class="nspam" cx="{x(i):.1f}" cy="{y(nspam):.1f}" r="3"><title>{label}</title></circle>')
        parts.append(f'<circle class="nham" cx="{x(i):.1f}" cy="{y(nham):.1f}" r="3"><title>{label}</title></circle>')
    parts += charts.x_label_marks([p[0] for p in points], x, HEIGHT - 22)
    parts.append(f'<text class="legend caption" x="{WIDTH / 2:.0f}" y="{HEIGHT - 6}" text-anchor="middle">UTC</text>')
    parts.append(  # one line of text: the parts flow after each other at any type size
        f'<text x="4" y="{TOP - 14}" class="legend">Messages learned'
        f' <tspan class="legend nspam">— spam ({last[1]})</tspan>'
        f' <tspan class="legend nham">— ham ({last[2]})</tspan></text>'
    )
    parts.append("</svg>")
    return "".join(parts)
