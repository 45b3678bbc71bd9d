from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from access.roles import scope_of
from dms_admin.models import JobRun, PendingChange


def pending_changes(request: HttpRequest) -> dict[str, Any]:
    """The pending-changes banner (superadmins) and the role, for the navigation."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    scope = scope_of(request)
    if scope is None or not scope.superadmin:
        return {"scope": scope}
    return {
        "scope": scope,
        "pending_count": PendingChange.objects.values("path").distinct().count(),
        "confirm_failed": last_failed_confirm(),
    }


def last_failed_confirm() -> JobRun | None:
    """The newest finished confirmation, when it failed: one banner for however many saves."""
    last = (
        JobRun.objects.filter(kind="confirm", status__in=[JobRun.Status.SUCCEEDED, JobRun.Status.FAILED])
        .order_by("-created_at")
        .only("id", "status", "error", "created_at")
        .first()
    )
    return last if last is not None and last.status == JobRun.Status.FAILED else None
