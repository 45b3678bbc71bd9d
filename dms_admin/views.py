from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET


@login_not_required
@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers and feed readers ask for /favicon.ico whatever the page links: send them the SVG.

    Resolved per request: the hashed static name exists only after collectstatic.
    """
    from django.templatetags.static import static

    return redirect(static("favicon.svg"), permanent=True)


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """For the compose healthcheck: the process serves and its database answers."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return JsonResponse({"status": "error", "database": str(exc)}, status=503)
    return JsonResponse({"status": "ok"})
