"""nspam and nham over time against the 200/200 line, as a small server-rendered SVG. Pure."""

from __future__ import annotations

from datetime import datetime
from html import escape

WIDTH, HEIGHT, PAD = 640, 220, 40


def bayes_svg(points: list[tuple[datetime, int, int]], minimum: int = 200) -> str:
    """`points` are (when, nspam, nham), oldest first; the dashed line is the count Bayes needs."""
    if not points:
        return ""
    top = max(minimum * 1.25, *(max(s, h) for _, s, h in points))
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    step = inner_w / max(len(points) - 1, 1)

    def y(value: float) -> float:
        return HEIGHT - PAD - inner_h * value / top

    def line(values: list[int]) -> str:
        return " ".join(f"{PAD + i * step:.1f},{y(v):.1f}" for i, v in enumerate(values))

    parts = [
        f'<svg class="bayes-plot" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>Learned spam and ham over time; Bayes is used from {minimum} of each</title>",
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" class="axis"/>',
        f'<line x1="{PAD}" y1="{y(minimum):.1f}" x2="{WIDTH - PAD}" y2="{y(minimum):.1f}" class="threshold"/>',
        f'<text x="{WIDTH - PAD}" y="{y(minimum) - 4:.1f}" text-anchor="end" class="legend">{minimum} needed</text>',
        f'<polyline class="nspam" fill="none" points="{line([p[1] for p in points])}"/>',
        f'<polyline class="nham" fill="none" points="{line([p[2] for p in points])}"/>',
    ]
    for i, (at, nspam, nham) in enumerate(points):
        label = escape(f"{at:%Y-%m-%d %H:%M} UTC: {nspam} spam, {nham} ham")
        parts.append(
            f'<circle class="nspam" cx="{PAD + i * step:.1f}" cy="{y(nspam):.1f}" r="3"><title>{label}</title></circle>'
        )
        parts.append(
            f'<circle class="nham" cx="{PAD + i * step:.1f}" cy="{y(nham):.1f}" r="3"><title>{label}</title></circle>'
        )
    last = points[-1]
    parts.append(f'<text x="{PAD}" y="{PAD - 14}" class="legend nspam">— spam ({last[1]})</text>')
    parts.append(f'<text x="{PAD + 140}" y="{PAD - 14}" class="legend nham">— ham ({last[2]})</text>')
    parts.append(f'<text x="{PAD}" y="{HEIGHT - 12}" class="legend">{points[0][0]:%Y-%m-%d}</text>')
    parts.append(
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 12}" text-anchor="end" class="legend">{last[0]:%Y-%m-%d}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
