from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from access.roles import superadmin_required
from accounts import relays
from accounts.forms import RelayForm, RestrictionForm
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


@superadmin_required
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


@superadmin_required
@require_POST
def relay_delete(request: HttpRequest, domain: str) -> HttpResponse:
    try:
        saved = relays.relay_delete(domain=domain, actor=Actor.from_request(request))
    except (FieldError, Conflict) as error:
        messages.error(request, error.message)
    else:
        change_message(request, "Relay removed.", saved.outcome)
    return redirect("accounts:relay-list")


@superadmin_required
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


@superadmin_required
@require_POST
def restriction_delete(request: HttpRequest, direction: str, address: str) -> HttpResponse:
    try:
        saved = relays.restriction_delete(address=address, direction=direction, actor=Actor.from_request(request))
    except (FieldError, Conflict) as error:
        messages.error(request, error.message)
    else:
        change_message(request, "Restriction removed.", saved.outcome)
    return redirect("accounts:relay-list")
