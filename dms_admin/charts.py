"""Axes for the panel's small server-rendered SVG charts (backup sizes, Bayes counts). Pure.

Each chart draws its own marks; these pick what a reader needs to read them: tick values that
are round in a unit that fits the data (kB for a 10 kB archive), and date labels that differ.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

from dms_admin import units


def ticks(top: float, count: int = 4) -> list[float]:
    """0 and round steps up to at least `top`: 0, 2, 4, 6, 8, 10 for 9.3."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    n = math.ceil(top / step - 1e-9)
    return [round(i * step, 10) for i in range(n + 1)]


def tick_text(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:g}"


def byte_unit(top: float) -> tuple[str, int]:
    """The unit for a size axis whose largest value is `top` bytes."""
    return units.unit_for(top) if top > 0 else ("B", 1)


def duration_unit(top: float) -> tuple[str, float]:
    """Seconds, minutes or hours for an axis of durations up to `top` seconds."""
    if top >= 2 * 3600:
        return "h", 3600.0
    if top >= 120:
        return "min", 60.0
    return "s", 1.0


# From coarse to fine: the first one under which the labelled points all differ is used.
_DATE_FORMATS = ("%Y-%m-%d", "%m-%d %H:%M", "%H:%M:%S")


def x_labels(times: list[datetime], most: int = 5) -> list[tuple[int, str]]:
    """Up to `most` (index, label) pairs, evenly spread over `times`, no two labels alike."""
    if not times:
        return []
    n = len(times)
    # Every `step`-th point, so that labels never crowd; the newest always, in place of the last
    # one picked when that one would sit too close to it.
    step = max(1, math.ceil((n - 1) / (most - 1)))
    picked = list(range(0, n, step))
    if picked[-1] != n - 1:
        if n - 1 - picked[-1] < step * 0.6 and len(picked) > 1:
            picked[-1] = n - 1
        else:
            picked.append(n - 1)
    for fmt in _DATE_FORMATS:
        labels = [times[i].strftime(fmt) for i in picked]
        if len(set(labels)) == len(labels):
            return list(zip(picked, labels, strict=True))
    # Points within one second: label each distinct time once.
    seen: dict[str, int] = {}
    for i in picked:
        seen.setdefault(times[i].strftime(_DATE_FORMATS[-1]), i)
    return [(i, label) for label, i in seen.items()]


def x_label_marks(times: list[datetime], x: Callable[[int], float], y: float) -> list[str]:
    """The date labels as SVG text; all but the first, middle and last are `minor`, which a phone
    hides (its larger type would make them overlap)."""
    labels = x_labels(times)
    last = len(labels) - 1
    keep = {0, last, last // 2 if last >= 4 else 0}
    marks = []
    for n, (i, text) in enumerate(labels):
        # The outer labels grow inwards from their point, so the chart's edge never cuts them.
        anchor, shift = ("start", -8) if n == 0 and last else ("end", 8) if n == last and last else ("middle", 0)
        minor = "" if n in keep else " minor"
        marks.append(f'<text class="tick{minor}" x="{x(i) + shift:.1f}" y="{y}" text-anchor="{anchor}">{text}</text>')
    return marks
