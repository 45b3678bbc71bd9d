"""Every panel page needs a sign-in; what a signed-in user may open is access.roles'."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpRequest, HttpResponseBase

from access.models import ApiToken
from dms_admin.audit import audit_api_call, request_audit_watch


class PanelLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Every panel page needs a login; the API authenticates itself and answers 401 in JSON."""

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponseBase | None:
        if request.path_info.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class ApiCallAuditMiddleware:
    """Every call made with an API token leaves an audit row under the token's name.

    A change audits itself (mailbox.create, …, with its commit); a call that audited nothing (a
    read, a refused or invalid write) gets one `api.call` row: method, path and status.
    """

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        with request_audit_watch() as audited:
            response = self.get_response(request)
        token = getattr(request, "auth", None)  # DRF puts the authenticated token on the request
        if not audited[0] and isinstance(token, ApiToken):
            audit_api_call(request, token_name=token.name, detail=f"HTTP {response.status_code}")
        return response
