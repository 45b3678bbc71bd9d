"""Backup sizes and durations over time as a small server-rendered SVG. Pure: numbers in, markup out."""

from __future__ import annotations

from datetime import datetime
from html import escape

from dms_admin import charts, units

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 56, 30, 40  # room for the size axis, the duration axis, the legend, the dates


def sizes_svg(points: list[tuple[datetime, int, float]]) -> str:
    """Bars: archive size (left axis); line: duration (right axis).

    `points` are (created_at, bytes, seconds), oldest first.
    """
    if not points:
        return ""
    size_unit, size_factor = charts.byte_unit(max(p[1] for p in points))
    size_ticks = charts.ticks(max(p[1] for p in points) / size_factor)
    time_unit, time_factor = charts.duration_unit(max(p[2] for p in points))
    time_ticks = charts.ticks(max(p[2] for p in points) / time_factor)
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    base = TOP + inner_h
    step = inner_w / len(points)
    bar = max(2.0, min(step * 0.6, 48.0))

    def y_size(n: float) -> float:
        return base - inner_h * (n / size_factor) / size_ticks[-1]

    def y_time(s: float) -> float:
        return base - inner_h * (s / time_factor) / time_ticks[-1]

    def centre(i: int) -> float:
        return LEFT + i * step + step / 2

    parts = _heading(points)
    parts += _axes(size_ticks, time_ticks, base, inner_h)
    line = []
    for i, (at, size, seconds) in enumerate(points):
        h = base - y_size(size)
        label = escape(f"{at:%Y-%m-%d %H:%M} UTC: {units.format_bytes(size)}, {units.number(seconds)} s")
        parts.append(
            f'<rect class="size" x="{centre(i) - bar / 2:.1f}" y="{base - h:.1f}" width="{bar:.1f}" height="{h:.1f}">'
            f"<title>{label}</title></rect>"
        )
        line.append(f"{centre(i):.1f},{y_time(seconds):.1f}")
    parts.append(f'<polyline class="duration" fill="none" points="{" ".join(line)}"/>')
    parts += [f'<circle class="duration" cx="{pt.split(",")[0]}" cy="{pt.split(",")[1]}" r="3"/>' for pt in line]
    parts += charts.x_label_marks([p[0] for p in points], centre, HEIGHT - 22)
    parts.append(f'<text class="legend caption" x="{WIDTH / 2:.0f}" y="{HEIGHT - 6}" text-anchor="middle">UTC</text>')
    parts.append(f'<text class="legend size" x="4" y="{TOP - 14}">▮ Size ({size_unit})</text>')
    parts.append(
        f'<text class="legend duration" x="{WIDTH - 4}" y="{TOP - 14}" text-anchor="end">'
        f"— Duration ({time_unit})</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def _heading(points: list[tuple[datetime, int, float]]) -> list[str]:
    """The opening tag, a title and a description a screen reader reads out."""
    newest = points[-1]
    summary = (
        f"{len(points)} backup(s) from {points[0][0]:%Y-%m-%d %H:%M} to {newest[0]:%Y-%m-%d %H:%M} UTC; "
        f"newest {units.format_bytes(newest[1])} in {units.number(newest[2])} s"
    )
    return [
        f'<svg class="backup-plot chart" role="img" aria-labelledby="backup-plot-t backup-plot-d" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
        '<title id="backup-plot-t">Backup sizes (bars) and durations (line) over time</title>',
        f'<desc id="backup-plot-d">{escape(summary)}</desc>',
    ]


def _axes(size_ticks: list[float], time_ticks: list[float], base: float, inner_h: float) -> list[str]:
    """Grid lines with the size labels on the left, duration labels on the right, the base line."""
    parts = []
    for value in size_ticks:  # grid and size labels on the left
        y = base - inner_h * value / size_ticks[-1]
        parts.append(f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{charts.tick_text(value)}</text>'
        )
    for value in time_ticks:  # duration labels on the right
        y = base - inner_h * value / time_ticks[-1]
        parts.append(f'<text class="tick" x="{WIDTH - RIGHT + 6}" y="{y + 4:.1f}">{charts.tick_text(value)}</text>')
    parts.append(f'<line class="axis" x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}"/>')
    return parts
