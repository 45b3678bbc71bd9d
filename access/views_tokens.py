"""The panel's API token pages (superadmins only)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from access.forms import TokenForm
from access.models import ApiToken
from access.roles import superadmin_required
from access.tokens import token_create, token_delete
from dms_admin.audit import Actor
from dms_admin.errors import Conflict, FieldError, add_service_error


@superadmin_required
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    form, secret = TokenForm(request.POST or None), None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            _, secret = token_create(
                name=data["name"],
                scope=data["scope"],
                domains=data["domains"].split(),
                expires_days=data["expires"],
                actor=Actor.from_request(request),
            )
        except (FieldError, Conflict) as error:
            add_service_error(form, error)
        else:
            form = TokenForm()
    return render(
        request, "accounts/token_list.html", {"tokens": ApiToken.objects.all(), "form": form, "secret": secret}
    )


@superadmin_required
@require_http_methods(["GET", "POST"])
def token_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk)
    if request.method == "POST":
        token_delete(token=token, actor=Actor.from_request(request))
        messages.success(request, f"Token {token.name} deleted; it no longer works.")
        return redirect("token-list")
    return render(request, "accounts/token_delete.html", {"token": token, "cancel": reverse("token-list")})
