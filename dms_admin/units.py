"""Byte sizes and domain names as people read them; pure, no Django.

One rule for sizes on every page: binary multiples (1 kB = 1024 bytes), as Dovecot counts quotas
(`5G` is 5 GiB) and reports usage (KiB), so "3.9 MB of 5 GB" compares like with like.
"""

from __future__ import annotations

import re

UNITS = ("B", "kB", "MB", "GB", "TB", "PB")
_FACTORS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_SIZE = re.compile(r" *(\d+(?:\.\d+)?) *([kmgt]?)(?:i?b)? *", re.IGNORECASE)  # fullmatch: no line breaks
MAX_SIZE = 1024**5  # a petabyte: beyond any mail limit, and keeps the int small


def unit_for(n: float) -> tuple[str, int]:
    """The unit that shows `n` bytes with at most three digits before the point, and its factor."""
    factor = 1
    for unit in UNITS:
        if abs(n) < factor * 1023.5 or unit == UNITS[-1]:  # 1023.9 kB shows as 1 MB, not "1,024 kB"
            return unit, factor
        factor *= 1024
    raise AssertionError("unreachable")


def number(value: float) -> str:
    """3.9, 10, 512: one decimal below ten, none above, no trailing .0."""
    text = f"{value:.1f}" if abs(value) < 10 else f"{value:,.0f}"
    return text[:-2] if text.endswith(".0") else text


def format_bytes(n: int | float | None) -> str:
    if n is None:
        return ""
    unit, factor = unit_for(n)
    return f"{number(n / factor)} {unit}"


def parse_size(text: str) -> int:
    """Bytes for `50M`, `5G`, `512k`, `1.5 GB` or a bare byte count; ValueError otherwise."""
    match = _SIZE.fullmatch(text or "")
    if not match:
        raise ValueError(f"{text!r} is not a size: use a number of bytes or one with k, M, G or T, like 50M.")
    value = float(match[1]) * _FACTORS[match[2].lower()]
    if value > MAX_SIZE:
        raise ValueError(f"{text!r} is larger than any mail server needs.")
    return round(value)


def domain_unicode(name: str) -> str:
    """`xn--mller-kva.de` as `müller.de`; anything that is not valid punycode stays as it is."""
    if "xn--" not in name.lower():
        return name
    labels = []
    for label in name.split("."):
        if label.lower().startswith("xn--"):
            try:
                label = label[4:].encode("ascii").decode("punycode")
            except (UnicodeError, ValueError):
                return name
        labels.append(label)
    return ".".join(labels)


def address_unicode(value: str) -> str:
    """A domain or an address (`user@xn--…`) with its domain in Unicode."""
    local, at, domain = value.rpartition("@")
    return f"{local}{at}{domain_unicode(domain)}" if at else domain_unicode(value)
