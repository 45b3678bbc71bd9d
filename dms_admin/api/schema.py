"""The OpenAPI schema: every operation documents the API's one error shape for the status codes
it may answer; the schema and its docs page are served only to those who may use the API."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from access.api_auth import ApiAccess

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {"type": "string", "description": "One sentence a person understands."},
        "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
    },
    "required": ["error", "fields"],
}
ERRORS = {
    "400": "Bad input: `fields` says which and why.",
    "401": "No token, or an invalid or expired one.",
    "403": "The token's scope or domains do not allow this.",
    "404": "Not found (or not visible to this token).",
    "405": "Method not allowed.",
    "409": "Conflict: exists already, or another job of the same kind runs.",
    "413": "The request body is larger than the server accepts (DATA_UPLOAD_MAX_MEMORY_SIZE).",
    "415": "Send JSON.",
    "503": "The mail container, the Docker engine or Redis cannot be reached.",
}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path in result.get("paths", {}).values():
        for method, operation in path.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            for code, text in ERRORS.items():
                responses.setdefault(code, {"description": text, "content": {"application/json": {"schema": ref}}})
    return result


class DocsAccess(ApiAccess):
    """The schema and its docs page: like any API read (a panel session or a token with an admin
    role), unless API_DOCS_PUBLIC opens them to everyone."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(settings.API_DOCS_PUBLIC) or super().has_permission(request, view)


class SchemaView(SpectacularAPIView):  # type: ignore[misc]
    permission_classes = [DocsAccess]
    dms_decides_access = True  # any admin may read the API's description (access.roles.DECIDES)

    def handle_exception(self, exc: Exception) -> Response:
        # A refusal in the API's JSON error shape, not in the YAML the schema is served in.
        self.request.accepted_renderer, self.request.accepted_media_type = JSONRenderer(), "application/json"
        response: Response = super().handle_exception(exc)
        return response


class DocsView(SpectacularSwaggerView):  # type: ignore[misc]
    permission_classes = [DocsAccess]
    dms_decides_access = True  # any admin may read the API's description (access.roles.DECIDES)

    def handle_exception(self, exc: Exception) -> Response:
        self.request.accepted_renderer, self.request.accepted_media_type = JSONRenderer(), "application/json"
        if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
            # A page for people: sign in first (as a DRF Response, which is what this hook returns).
            login = redirect_to_login(self.request.get_full_path())
            return Response(status=login.status_code, headers={"Location": login["Location"]})
        response: Response = super().handle_exception(exc)
        return response
