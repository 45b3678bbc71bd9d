from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def get(mapping: Any, key: str) -> Any:
    """`mapping|get:key` for dicts and QueryDicts in templates."""
    return mapping.get(key) if hasattr(mapping, "get") else None
