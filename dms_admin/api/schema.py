"""Every operation documents the API's one error shape for the status codes it may answer."""

from __future__ import annotations

from typing import Any

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
