"""REST endpoints of the mailserver.env editor."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from access.api_auth import api_actor
from access.roles import superadmin_required
from dms_admin.api.errors import error_response
from dms_admin.api.serializers import (
    DRY_RUN,
    change_payload,
    is_dry_run,
)
from dms_admin.errors import FieldError
from dms_admin.mailserver_env import service as settings_service


def _setting_data(row: Any) -> dict[str, Any]:
    var = row.var
    return {
        "name": row.name,
        "value": None if row.secret else row.value,
        "set": row.is_set,
        "default": var.default if var else None,
        "type": var.type if var else "unknown",
        "choices": [c for c in var.choices] if var and var.choices else None,
        "group": var.group if var else None,
        "help": var.help if var else "",
        "deprecated": row.deprecated or None,
    }


def _settings_body_fields() -> dict[str, serializers.Field]:
    # A new dict each time: DRF's serializer metaclass takes the fields out of the one it gets.
    return {
        "VAR": serializers.CharField(allow_null=True),
        "allow_unknown": serializers.BooleanField(required=False, help_text="Also write variables DMS does not know"),
    }


@extend_schema(
    methods=["GET"],
    responses=inline_serializer(
        "Settings", {"version": serializers.CharField(allow_null=True), "variables": serializers.ListField()}
    ),
)
@extend_schema(
    methods=["PATCH"],
    request=inline_serializer("SettingsPatch", _settings_body_fields()),
    parameters=[DRY_RUN],
    responses=inline_serializer(
        "SettingsResult",
        {"change": serializers.DictField(required=False), "warnings": serializers.ListField(required=False)},
    ),
    description='`{"VAR": "value"}`; null removes the variable (DMS then uses its default). A variable DMS '
    'does not know is refused unless the body also has `"allow_unknown": true`.',
)
@superadmin_required
@api_view(["GET", "PATCH"])
def settings_api(request: Request) -> Response:
    if request.method == "PATCH":
        body, allow_unknown = _settings_body(request)
        bad = settings_service.settings_problems(body, allow_unknown=allow_unknown)
        if bad:  # every bad variable at once
            return error_response(next(iter(bad.values())), 400, {k: [v] for k, v in bad.items()})
        result, outcome = settings_service.settings_update(
            updates=body, actor=api_actor(request), dry_run=is_dry_run(request), allow_unknown=allow_unknown
        )
        warnings = settings_service.unknown_warnings(body)
        return Response({"files": list(result.files), **change_payload(result, outcome), "warnings": warnings})
    version = settings_service.dms_version()
    rows, problems = settings_service.settings_read(version=version)
    fixes = [{"name": p.name, "message": p.message, "fix": p.fix} for p in problems]
    return Response({"version": version, "variables": [_setting_data(r) for r in rows], "deprecations": fixes})


@extend_schema(
    request=inline_serializer("SettingsValidate", _settings_body_fields()),
    responses=inline_serializer(
        "SettingsProblems", {"ok": serializers.BooleanField(), "fields": serializers.DictField()}
    ),
)
@superadmin_required
@api_view(["POST"])
def settings_validate(request: Request) -> Response:
    body, allow_unknown = _settings_body(request)
    problems = settings_service.settings_problems(body, allow_unknown=allow_unknown)
    return Response({"ok": not problems, "fields": {name: [message] for name, message in problems.items()}})


def _settings_body(request: Request) -> tuple[dict[str, str | None], bool]:
    """The variables to set (null: remove), and whether unknown ones may be written."""
    if not isinstance(request.data, dict) or not request.data:
        raise FieldError("settings", 'Send a JSON object like {"ENABLE_CLAMAV": "1"}.')
    data = dict(request.data)
    allow_unknown = data.pop("allow_unknown", False)
    if not isinstance(allow_unknown, bool):
        raise FieldError("allow_unknown", "allow_unknown must be true or false.")
    body: dict[str, str | None] = {}
    for name, value in data.items():
        if value is not None and not isinstance(value, str):
            # "1", not 1: a number or a boolean would be written in Python's spelling of it.
            raise FieldError(str(name)[:100], f"{str(name)[:100]} must be a string (or null to remove it).")
        body[str(name)] = value
    if not body:
        raise FieldError("settings", 'Send at least one variable, like {"ENABLE_CLAMAV": "1"}.')
    return body, allow_unknown
