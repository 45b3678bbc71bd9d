from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts import relays
from accounts.forms import RelayForm, RestrictionForm, TokenForm
from accounts.models import ApiToken
from accounts.tokens import token_create, token_delete
from dms_admin.audit import Actor
from dms_admin.errors import Conflict, FieldError, add_service_error
from dms_admin.feedback import change_message


def _page(
    request: HttpRequest, relay_form: RelayForm, restriction_form: RestrictionForm, code: int = 200
) -> HttpResponse:
    context = {
        "relays": relays.relay_list(),
        "restrictions": relays.restriction_list(),
        "relay_form": relay_form,
        "restriction_form": restriction_form,
    }
    return render(request, "accounts/relay_list.html", context, status=code)


@require_http_methods(["GET", "POST"])
def relay_list(request: HttpRequest) -> HttpResponse:
    form = RelayForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            saved = relays.relay_save(
                domain=data["domain"],
                host=data["host"],
                port=data["port"],
                username=data["username"],
                password=data["password"] or None,
                actor=Actor.from_request(request),
            )
        except (FieldError, Conflict) as error:
            add_service_error(form, error)
        else:
            change_message(request, "Relay saved.", saved.outcome)
            return redirect("accounts:relay-list")
    return _page(request, form, RestrictionForm(), 400 if request.method == "POST" else 200)


@require_POST
def relay_delete(request: HttpRequest, domain: str) -> HttpResponse:
    try:
        saved = relays.relay_delete(domain=domain, actor=Actor.from_request(request))
    except (FieldError, Conflict) as error:
        messages.error(request, error.message)
    else:
        change_message(request, "Relay removed.", saved.outcome)
    return redirect("accounts:relay-list")


@require_POST
def restriction_add(request: HttpRequest) -> HttpResponse:
    form = RestrictionForm(request.POST)
    if form.is_valid():
        try:
            saved = relays.restriction_add(**form.cleaned_data, actor=Actor.from_request(request))
        except (FieldError, Conflict) as error:
            add_service_error(form, error)
        else:
            change_message(request, "Restriction added.", saved.outcome)
            return redirect("accounts:relay-list")
    return _page(request, RelayForm(), form, 400)


@require_POST
def restriction_delete(request: HttpRequest, direction: str, address: str) -> HttpResponse:
    try:
        saved = relays.restriction_delete(address=address, direction=direction, actor=Actor.from_request(request))
    except (FieldError, Conflict) as error:
        messages.error(request, error.message)
    else:
        change_message(request, "Restriction removed.", saved.outcome)
    return redirect("accounts:relay-list")


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


@require_http_methods(["GET", "POST"])
def token_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk)
    if request.method == "POST":
        token_delete(token=token, actor=Actor.from_request(request))
        messages.success(request, f"Token {token.name} deleted; it no longer works.")
        return redirect("accounts:token-list")
    return render(request, "accounts/token_delete.html", {"token": token, "cancel": reverse("accounts:token-list")})
