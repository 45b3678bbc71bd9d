from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from dms_admin import units

register = template.Library()


@register.filter
def get(mapping: Any, key: str) -> Any:
    """`mapping|get:key` for dicts and QueryDicts in templates."""
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def bytesize(value: Any) -> str:
    """Bytes as `3.9 MB` (binary multiples, see dms_admin.units); the one size format of every page."""
    if value is None or value == "":
        return ""
    try:
        return units.format_bytes(int(value)).replace(" ", "\u00a0")  # "10 kB" never breaks in two
    except (TypeError, ValueError):
        return str(value)


@register.filter
def idn(value: Any) -> SafeString:
    """A domain or address in Unicode, its punycode (as stored, as DNS knows it) beside."""
    text = str(value or "")
    shown = units.address_unicode(text)
    if shown == text:
        return format_html("{}", text)
    return format_html('{} <small class="muted idn">({})</small>', shown, text)


@register.filter
def idn_text(value: Any) -> str:
    """The Unicode form alone, for titles and attributes."""
    return units.address_unicode(str(value or ""))


# ---- job results -------------------------------------------------------------------------------------

# key: (label, unit); unit is "bytes", "seconds", "bits" or "" (as it is). Unknown keys get their
# name with the underscores as spaces.
LABELS: dict[str, tuple[str, str]] = {
    "action": ("Action", ""),
    "address": ("Mailbox", ""),
    "applied": ("Applied", ""),
    "archive": ("Archive number", ""),
    "bits": ("Key size", "bits"),
    "bytes": ("Size", "bytes"),
    "commit": ("Commit", ""),
    "config": ("Config restored", ""),
    "container": ("Container", ""),
    "counts": ("Files", ""),
    "create": ("New files", ""),
    "domain": ("Domain", ""),
    "dry_run": ("Preview only", ""),
    "duration": ("Duration", "seconds"),
    "engine": ("Engine", ""),
    "examined": ("Examined", ""),
    "files": ("Files", ""),
    "folder": ("Folder", ""),
    "folders": ("Folders", ""),
    "health": ("Health", ""),
    "image": ("Image", ""),
    "kept": ("Newer files kept", ""),
    "kind": ("Kind", ""),
    "learned": ("Learned", ""),
    "learned_ham": ("Ham learned", ""),
    "learned_spam": ("Spam learned", ""),
    "log": ("Log", ""),
    "mailbox": ("Mailbox", ""),
    "missing": ("Missing folders", ""),
    "nham": ("Ham in the Bayes database", ""),
    "nspam": ("Spam in the Bayes database", ""),
    "overwrite": ("Changed files", ""),
    "path": ("File", ""),
    "policy": ("Policy number", ""),
    "preview": ("Preview", ""),
    "previous": ("Previous image", ""),
    "pruned": ("Removed by retention", ""),
    "removed": ("Removed", ""),
    "restored": ("Files restored", ""),
    "revert_commit": ("Revert commit", ""),
    "safety_archive": ("Safety copy", ""),
    "scope": ("Scope", ""),
    "selector": ("Selector", ""),
    "size": ("Size", "bytes"),
    "training_run": ("Training run", ""),
    "unchanged": ("Unchanged", ""),
    "version": ("DMS version", ""),
    "warnings": ("Warnings", ""),
}
HIDDEN = frozenset({"link", "link_text", "warnings"})  # the job page shows them as its link and as warnings
LIST_LIMIT = 20  # a restore preview lists up to 200 paths: the page shows the first ones


def _label(key: str) -> tuple[str, str]:
    if key in LABELS:
        return LABELS[key]
    unit = "bytes" if key.endswith("_bytes") else "seconds" if key.endswith("_seconds") else ""
    return key.replace("_", " ").capitalize(), unit


def _scalar(value: Any, unit: str) -> SafeString:
    if value is None or value == "":
        return mark_safe("—")
    if isinstance(value, bool):
        return format_html("{}", "yes" if value else "no")
    if isinstance(value, int | float):
        if unit == "bytes":
            return format_html('<span title="{} bytes">{}</span>', f"{value:,}", bytesize(value))
        if unit == "seconds":
            return format_html("{} s", units.number(float(value)))
        return format_html("{}{}", f"{value:,}" if isinstance(value, int) else value, " bits" if unit == "bits" else "")
    text = str(value)
    if "\n" in text:
        return format_html('<pre class="result-text">{}</pre>', text)
    return format_html("{}", text)


def _value(value: Any, unit: str, depth: int) -> SafeString:
    if isinstance(value, dict):
        return _fields(value, depth + 1) if value else mark_safe("—")
    if isinstance(value, list | tuple):
        if not value:
            return mark_safe('<span class="muted">none</span>')
        shown = value[:LIST_LIMIT]
        items = format_html_join("", "<li>{}</li>", ((_value(item, unit, depth),) for item in shown))
        more = ""
        if len(value) > LIST_LIMIT:
            more = format_html('<li class="muted">… and {} more</li>', len(value) - LIST_LIMIT)
        return format_html('<ul class="result-list">{}{}</ul>', items, more)
    return _scalar(value, unit)


def _fields(result: dict[str, Any], depth: int = 0) -> SafeString:
    if depth > 4:  # deeper than any job writes: say so rather than recurse without end
        return format_html("<code>{}</code>", str(result)[:500])
    rows = []
    for key, value in result.items():
        if key in HIDDEN:
            continue
        label, unit = _label(str(key))
        rows.append((label, _value(value, unit, depth)))
    return format_html('<dl class="facts result">{}</dl>', format_html_join("", "<dt>{}</dt><dd>{}</dd>", rows))


@register.filter
def result_fields(result: Any) -> SafeString:
    """A job's result as a definition list: human labels, sizes and durations with units, lists as lists."""
    if not isinstance(result, dict) or not result:
        return mark_safe("")
    return _fields(result)


SUMMARY_KEYS = ("files", "size", "duration", "learned_spam", "learned_ham", "restored", "selector", "bits", "action")


@register.filter
def result_summary(result: Any) -> str:
    """A few facts of a result on one line, for the job list: `Files 3 · Size 10 kB · Duration 0.4 s`."""
    if not isinstance(result, dict):
        return ""
    parts = []
    for key in SUMMARY_KEYS:
        value = result.get(key)
        if value is None or isinstance(value, dict | list):
            continue
        label, unit = _label(key)
        if unit == "bytes" and isinstance(value, int | float):
            text = units.format_bytes(value)
        elif unit == "seconds" and isinstance(value, int | float):
            text = f"{units.number(float(value))} s"
        else:
            text = f"{value}{' bits' if unit == 'bits' else ''}"
        parts.append(f"{label} {text}")
    if result.get("pruned"):
        parts.append(f"{len(result['pruned'])} removed by retention")
    if result.get("warnings"):
        parts.append(f"{len(result['warnings'])} warning(s)")
    return " · ".join(parts)
