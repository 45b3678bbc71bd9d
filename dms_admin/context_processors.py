from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from dms_admin.models import PendingChange


def pending_changes(request: HttpRequest) -> dict[str, Any]:
    """The pending-changes banner on every page (one cheap count query, only when logged in)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"pending_count": PendingChange.objects.count()}
