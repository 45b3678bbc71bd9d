from __future__ import annotations

from django import template

from accounts.files import RegexpAlias
from accounts.services import regexp_id as _regexp_id

register = template.Library()


@register.filter
def regexp_id(entry: RegexpAlias) -> str:
    return _regexp_id(entry)
