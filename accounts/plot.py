"""A domain's mailbox sizes as a small server-rendered SVG: horizontal bars, largest first. Pure."""

from __future__ import annotations

from html import escape

from dms_admin import charts, units

WIDTH = 640
LEFT, RIGHT, TOP, ROW = 250, 24, 28, 22  # room for the addresses, the axis labels on top, one bar a row
MOST = 15


def sizes_svg(rows: list[tuple[str, int, int | None]]) -> str:
    """`rows` are (address, used bytes, limit bytes or None); the largest `MOST` are drawn.

    A bar is the mail the mailbox holds; a tick on it marks its quota when the quota fits the axis.
    """
    rows = sorted((r for r in rows if r[1] > 0), key=lambda r: r[1], reverse=True)[:MOST]
    if not rows:
        return ""
    top = 0
    for _, used, limit in rows:
        # A quota far above the mail would squash every bar; it is then only named in the tooltip.
        top = max(top, used, limit if limit and limit <= 2 * used else 0)
    unit, factor = charts.byte_unit(top)
    marks = charts.ticks(top / factor)
    inner = WIDTH - LEFT - RIGHT
    height = TOP + ROW * len(rows) + 8

    def x(value: float) -> float:
        return LEFT + inner * (value / factor) / marks[-1]

    summary = f"{len(rows)} largest mailbox(es); the largest holds {units.format_bytes(rows[0][1])}"
    parts = [
        f'<svg class="mailbox-plot chart" role="img" aria-labelledby="mailbox-plot-t mailbox-plot-d" '
        f'viewBox="0 0 {WIDTH} {height}" xmlns="http://www.w3.org/2000/svg">',
        '<title id="mailbox-plot-t">Mailbox sizes, largest first</title>',
        f'<desc id="mailbox-plot-d">{escape(summary)}</desc>',
    ]
    for value in marks:
        px = LEFT + inner * value / marks[-1]
        parts.append(f'<line class="grid" x1="{px:.1f}" y1="{TOP - 6}" x2="{px:.1f}" y2="{height - 8}"/>')
        label = f"{charts.tick_text(value)} {unit}" if value == marks[-1] else charts.tick_text(value)
        anchor = "end" if value == marks[-1] else "middle"
        parts.append(f'<text class="tick" x="{px:.1f}" y="{TOP - 10}" text-anchor="{anchor}">{label}</text>')
    for i, (address, used, limit) in enumerate(rows):
        y = TOP + i * ROW
        name = address if len(address) <= 22 else address[:21] + "…"  # the whole address is in the tooltip
        parts.append(f'<text class="tick" x="{LEFT - 8}" y="{y + 15}" text-anchor="end">{escape(name)}</text>')
        width = max(1.0, x(used) - LEFT)
        shown = units.format_bytes(used) + (f" of {units.format_bytes(limit)}" if limit else "")
        parts.append(
            f'<rect class="bar" x="{LEFT}" y="{y + 4}" width="{width:.1f}" height="{ROW - 8}">'
            f"<title>{escape(address)}: {escape(shown)}</title></rect>"
        )
        if limit and limit / factor <= marks[-1]:
            parts.append(
                f'<line class="quota" x1="{x(limit):.1f}" y1="{y + 1}" x2="{x(limit):.1f}" y2="{y + ROW - 1}"/>'
            )
    parts.append("</svg>")
    return "".join(parts)
