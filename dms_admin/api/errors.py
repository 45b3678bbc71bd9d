"""One error shape for the whole API: {"error": sentence, "fields": {field: [why]}}."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from dms_admin.api.parsers import MAX_DEPTH, body_limit, too_large_message
from dms_admin.api.serializers import JobSerializer
from dms_admin.dms import DockerUnavailable
from dms_admin.errors import Conflict, FieldError
from dms_admin.jobqueue import JobConflict, QueueUnavailable
from dms_admin.storeerrors import ConfigLockTimeout, ConfigStoreError


def error_response(message: str, code: int, fields: dict[str, list[str]] | None = None) -> Response:
    return Response({"error": message, "fields": fields or {}}, status=code)


def _flatten(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(value, dict):
                for sub, msgs in _flatten(value).items():
                    out[f"{key}.{sub}"] = msgs
            else:
                out[str(key)] = [str(v) for v in (value if isinstance(value, list) else [value])]
        return out
    if isinstance(detail, list):
        out = {}
        for index, item in enumerate(detail):
            for sub, msgs in _flatten(item).items():
                out[f"{index}.{sub}"] = msgs
        return out
    return {}


def _summary(fields: dict[str, list[str]]) -> str:
    first = next(iter(fields.items()), None)
    if first is None:
        return "The request is not valid."
    name, (message, *_) = first
    # DRF names a problem with the body as a whole (a list where an object belongs) so.
    return message if name in ("non_field_errors", "body") else f"{name}: {message}"


def handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, FieldError):
        return error_response(exc.message, status.HTTP_400_BAD_REQUEST, {exc.field: [exc.message]})
    if isinstance(exc, Conflict):
        return error_response(exc.message, status.HTTP_409_CONFLICT, {exc.field: [exc.message]} if exc.field else None)
    if isinstance(exc, JobConflict):
        return error_response(str(exc), status.HTTP_409_CONFLICT)
    if isinstance(exc, QueueUnavailable):
        unqueued = error_response(str(exc), status.HTTP_503_SERVICE_UNAVAILABLE)
        unqueued.data.update(exc.done)
        if exc.run is not None:  # recorded as failed: the client may retry it once Redis is back
            unqueued.data["job"] = JobSerializer(exc.run).data
        return unqueued
    if isinstance(exc, ConfigLockTimeout | DockerUnavailable):
        return error_response(str(exc), status.HTTP_503_SERVICE_UNAVAILABLE)
    if isinstance(exc, ConfigStoreError):
        return error_response(str(exc), status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, RequestDataTooBig):
        # The body was read before the API's parser (a form post's CSRF check): Django's own
        # answer would be an HTML 400.
        limit = body_limit()
        return error_response(too_large_message(limit or 0), status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, RecursionError):
        return error_response(f"The input is nested too deeply (at most {MAX_DEPTH} levels).", 400)
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        loose = [str(d) for d in exc.detail if isinstance(d, str)] if isinstance(exc.detail, list) else []
        response.data = {"error": loose[0] if loose and not fields else _summary(fields), "fields": fields}
    else:
        detail = getattr(exc, "detail", None)
        response.data = {"error": str(detail) if detail else str(exc), "fields": {}}
    return response
