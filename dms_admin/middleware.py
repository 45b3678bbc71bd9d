from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponseBase

# No inline script or style anywhere in the panel: everything comes from /static/ (htmx is vendored).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
# The API docs page (Swagger UI from drf-spectacular-sidecar) starts itself with an inline script.
DOCS_POLICY = CONTENT_SECURITY_POLICY.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'").replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            docs = request.path_info.startswith("/api/v1/docs/")
            response["Content-Security-Policy"] = DOCS_POLICY if docs else CONTENT_SECURITY_POLICY
        return response
