"""The settings editor for mailserver.env."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from dms_admin import dmsenv
from dms_admin.audit import Actor
from dms_admin.errors import Conflict, FieldError
from dms_admin.settings_service import dms_version, settings_fix, settings_read, settings_update


def _changed(request: HttpRequest, rows: list) -> dict[str, str | None]:  # type: ignore[type-arg]
    """Only what the admin changed: untouched fields are not rewritten (quoting, order kept)."""
    updates: dict[str, str | None] = {}
    for row in rows:
        if row.var is None or row.name not in request.POST:
            continue
        value = request.POST[row.name]
        if row.secret and value == "":
            continue  # write-only: empty keeps the stored secret
        if value != row.value:
            updates[row.name] = value if value != "" or row.is_set else None
    return updates


@require_http_methods(["GET", "POST"])
def settings_view(request: HttpRequest) -> HttpResponse:
    version = dms_version()
    rows, problems = settings_read(version=version)
    errors: dict[str, str] = {}
    if request.method == "POST":
        updates = _changed(request, rows)
        if not updates:
            messages.info(request, "Nothing changed.")
            return redirect("settings")
        try:
            _, outcome = settings_update(updates=updates, actor=Actor.from_request(request))
        except FieldError as error:
            errors[error.field] = error.message
            messages.error(request, f"Not saved: {error.message}")
        else:
            if outcome:
                messages.success(request, f"Saved {', '.join(sorted(updates))}. {outcome.message}")
            return redirect("settings")
    groups = [(group, [r for r in rows if r.var and r.var.group == group]) for group in dmsenv.GROUPS]
    unknown = [r for r in rows if r.var is None]
    context = {
        "groups": groups,
        "unknown": unknown,
        "problems": problems,
        "errors": errors,
        "version": version,
        "posted": request.POST,
    }
    return render(request, "dms_admin/settings.html", context, status=400 if errors else 200)


@require_POST
def settings_fix_view(request: HttpRequest, name: str) -> HttpResponse:
    try:
        _, outcome = settings_fix(name=name, actor=Actor.from_request(request))
    except (FieldError, Conflict) as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Fixed {name}. {outcome.message if outcome else ''}")
    return redirect("settings")
