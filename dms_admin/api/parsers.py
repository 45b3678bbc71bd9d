"""The API's one request parser: JSON with a size and a depth limit, refused in the API's error shape.

DRF's own JSONParser lets Django raise RequestDataTooBig (an HTML 400) for a large body and lets
RecursionError escape (a 500) for a deeply nested one. This one reads the body itself, at most
DATA_UPLOAD_MAX_MEMORY_SIZE bytes, and answers 413 or 400 as JSON (`dms_admin.api.errors`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import BaseParser
from rest_framework.settings import api_settings

# No resource of this API nests more than a few levels ({"targets": [...]} or a list of those);
# anything deeper is a mistake or an attack, refused before it reaches a serializer.
MAX_DEPTH = 32


class BodyTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "body_too_large"


def body_limit() -> int | None:
    limit: int | None = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return limit


def too_large_message(limit: int) -> str:
    return f"The request body is larger than {limit:,} bytes; send less at a time."


class JSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        context = parser_context or {}
        encoding = context.get("encoding", settings.DEFAULT_CHARSET)
        limit = body_limit()
        request = context.get("request")
        length = _content_length(request)
        if limit is not None and length is not None and length > limit:
            raise BodyTooLarge(too_large_message(limit))  # refused before reading a byte of it
        raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            raise BodyTooLarge(too_large_message(limit))
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            raise exceptions.ParseError(f"The request body is not valid {encoding} text.") from None
        try:
            data = json.loads(text, parse_constant=_refuse_constant if api_settings.STRICT_JSON else None)
        except RecursionError:
            raise exceptions.ParseError(_too_deep()) from None
        except ValueError as error:
            raise exceptions.ParseError(f"The request body is not valid JSON: {error}.") from None
        _check(data)
        return data


def _content_length(request: Any) -> int | None:
    meta = getattr(request, "META", {})
    try:
        return int(meta.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _too_deep() -> str:
    return f"The JSON is nested more than {MAX_DEPTH} levels deep."


def _check(data: Any) -> None:
    """Depth at most MAX_DEPTH, and no NUL character in any string (no DMS file and no database
    column takes one: PostgreSQL refuses it outright). Iterative: no recursion on hostile input."""
    stack: list[tuple[Any, int, str]] = [(data, 1, "")]
    while stack:
        value, depth, where = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise exceptions.ParseError(_too_deep())
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and "\x00" in key:
                    raise exceptions.ValidationError({where or "body": ["NUL characters are not allowed in a name."]})
                stack.append((item, depth + 1, f"{where}.{key}" if where else str(key)))
        elif isinstance(value, str) and "\x00" in value:
            raise exceptions.ValidationError({where or "body": ["NUL characters are not allowed."]})
