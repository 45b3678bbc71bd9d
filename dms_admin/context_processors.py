from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from dms_admin.models import PendingChange
from dms_admin.roles import scope_of


def pending_changes(request: HttpRequest) -> dict[str, Any]:
    """The pending-changes banner (superadmins) and the role, for the navigation."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    scope = scope_of(request)
    if scope is None or not scope.superadmin:
        return {"scope": scope}
    return {"scope": scope, "pending_count": PendingChange.objects.count()}
