"""`{% problem error %}`: a failure of the engine, container or Redis in plain words, raw text behind "details"."""

from __future__ import annotations

import re
from typing import Any

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from dms_admin.feedback import STATUS_SEPARATOR
from dms_admin.plain import Problem, explain

register = template.Library()


@register.inclusion_tag("includes/_problem.html", takes_context=True)
def problem(context: dict[str, Any], error: Any, mode: str = "") -> dict[str, Any]:
    """`{% problem error %}`, or `{% problem error "brief" %}` for the sentence alone (banners)."""
    found: Problem | None = error if isinstance(error, Problem) else explain(error) if error else None
    scope = context.get("scope")
    return {"problem": found, "brief": mode == "brief", "show_health": bool(scope and scope.superadmin)}


@register.filter
def commands(text: str) -> SafeString:
    """Escape, then show `command` spans as code."""
    return mark_safe(re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text)))  # noqa: S308  (escaped first)


@register.filter
def watched_job(message: Any) -> str:
    """The confirmation job a saved-change message watches (dms_admin.feedback), or ""."""
    for tag in str(getattr(message, "extra_tags", "") or "").split():
        if tag.startswith("watch-"):
            return tag.removeprefix("watch-")
    return ""


@register.filter
def before_status(message: Any) -> str:
    return str(message).partition(STATUS_SEPARATOR)[0]


@register.filter
def after_status(message: Any) -> str:
    return str(message).partition(STATUS_SEPARATOR)[2]


@register.filter
def group(overview: Any, name: str) -> list[Any]:
    """The home page's checks of one group (dms_admin.ops.overview.CHECK_GROUPS)."""
    return list(overview.group(name))


@register.filter
def plain_sentence(error: Any) -> str:
    """A failure's one plain sentence (lists and tables, where the fix would not fit)."""
    return explain(error).sentence if error else ""
