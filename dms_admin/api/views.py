"""Core API: history, apply, jobs, container. Thin: authorize, validate, call one service."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt


@login_not_required  # the same JSON 404 for everyone
@csrf_exempt  # it changes nothing; without this a POST would get CSRF's HTML 403 instead
def not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Unknown API paths answer in the API's error shape, not with an HTML page."""
    return JsonResponse({"error": "There is no such API path.", "fields": {}}, status=404)
