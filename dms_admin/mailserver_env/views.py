"""The settings editor for mailserver.env."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from access.roles import superadmin_required
from dms_admin import feedback, units
from dms_admin.audit import Actor
from dms_admin.errors import Conflict, FieldError
from dms_admin.mailserver_env import catalogue as dmsenv
from dms_admin.mailserver_env.forms import BYTE_VARS, settings_changes
from dms_admin.mailserver_env.service import Setting, dms_version, settings_fix, settings_read, settings_update


def _sizes(rows: list[Setting]) -> dict[str, str]:
    """The byte values shown beside their fields, as `10240000 bytes = 9.8 MB`."""
    return {r.name: units.format_bytes(int(r.value)) for r in rows if r.name in BYTE_VARS and r.value.isdigit()}


def _save(request: HttpRequest, rows: list[Setting]) -> dict[str, str]:
    """Every field's error, and nothing written while there is one; {} when saved or unchanged."""
    updates, errors = settings_changes(request.POST, rows)
    if errors:
        return errors
    if not updates:
        messages.info(request, "Nothing changed.")
        return {}
    try:
        _, outcome = settings_update(updates=updates, actor=Actor.from_request(request))
    except FieldError as error:  # a rule across fields, which the service checks on the whole change
        return {error.field: error.message}
    feedback.change_message(request, f"Saved {', '.join(sorted(updates))}.", outcome)
    return {}


@superadmin_required
@require_http_methods(["GET", "POST"])
def settings_view(request: HttpRequest) -> HttpResponse:
    version = dms_version()
    rows, problems = settings_read(version=version)
    errors: dict[str, str] = {}
    if request.method == "POST":
        errors = _save(request, rows)
        if not errors:
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
        "posted_secret": any(r.secret and request.POST.get(r.name) for r in rows),
        "byte_vars": BYTE_VARS,
        "sizes": _sizes(rows),
    }
    return render(request, "dms_admin/settings.html", context, status=400 if errors else 200)


@superadmin_required
@require_POST
def settings_fix_view(request: HttpRequest, name: str) -> HttpResponse:
    try:
        _, outcome = settings_fix(name=name, actor=Actor.from_request(request))
    except (FieldError, Conflict) as error:
        messages.error(request, error.message)
    else:
        feedback.change_message(request, f"Fixed {name}.", outcome)
    return redirect("settings")
