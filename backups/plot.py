"""Backup sizes and durations over time as a small server-rendered SVG. Pure: numbers in, markup out."""

from __future__ import annotations

from datetime import datetime
from html import escape

WIDTH, HEIGHT, PAD = 640, 200, 36


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def sizes_svg(points: list[tuple[datetime, int, float]]) -> str:
    """Bars: archive size; line: duration in seconds. `points` are (created_at, bytes, seconds), oldest first."""
    if not points:
        return ""
    max_size = max(p[1] for p in points) or 1
    max_time = max(p[2] for p in points) or 1.0
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    step = inner_w / max(len(points), 1)
    bar = max(2.0, step * 0.6)
    parts = [
        f'<svg class="backup-plot" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>Backup sizes (bars, up to {escape(_mb(max_size))})"
        f" and durations (line, up to {max_time:.1f} s)</title>",
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" class="axis"/>',
    ]
    line = []
    for i, (at, size, seconds) in enumerate(points):
        x = PAD + i * step + (step - bar) / 2
        h = inner_h * size / max_size
        label = escape(f"{at:%Y-%m-%d %H:%M} UTC: {_mb(size)}, {seconds:.1f} s")
        parts.append(
            f'<rect class="size" x="{x:.1f}" y="{HEIGHT - PAD - h:.1f}" width="{bar:.1f}" height="{h:.1f}">'
            f"<title>{label}</title></rect>"
        )
        line.append(f"{x + bar / 2:.1f},{HEIGHT - PAD - inner_h * seconds / max_time:.1f}")
    parts.append(f'<polyline class="duration" fill="none" points="{" ".join(line)}"/>')
    parts.append(f'<text x="{PAD}" y="{PAD - 12}" class="legend">▮ size (max {escape(_mb(max_size))})</text>')
    parts.append(
        f'<text x="{WIDTH - PAD}" y="{PAD - 12}" text-anchor="end" class="legend">'
        f"— duration (max {max_time:.1f} s)</text>"
    )
    first, last = points[0][0], points[-1][0]
    parts.append(f'<text x="{PAD}" y="{HEIGHT - 10}" class="legend">{first:%Y-%m-%d}</text>')
    parts.append(f'<text x="{WIDTH - PAD}" y="{HEIGHT - 10}" text-anchor="end" class="legend">{last:%Y-%m-%d}</text>')
    parts.append("</svg>")
    return "".join(parts)
