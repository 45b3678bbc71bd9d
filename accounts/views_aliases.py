from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from access.roles import check_domain, domain_scoped, require_domain, superadmin_required, visible
from accounts import services
from accounts.forms import AliasForm, RegexpForm
from dms_admin.audit import Actor
from dms_admin.errors import Conflict, FieldError, add_service_error
from dms_admin.feedback import change_message


def _report(request: HttpRequest, what: str, saved: services.Saved) -> None:
    change_message(request, what, saved.outcome)
    for warning in saved.warnings:
        messages.warning(request, warning)


@domain_scoped
@require_http_methods(["GET", "POST"])
def alias_list(request: HttpRequest) -> HttpResponse:
    """The list, and the form to add one (POST)."""
    form = AliasForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            check_domain(request, form.cleaned_data["address"], field="address")
            saved = services.alias_save(
                address=form.cleaned_data["address"], targets=form.targets_list(), actor=Actor.from_request(request)
            )
        except (FieldError, Conflict) as error:
            add_service_error(form, error)
        else:
            _report(request, "Alias created.", saved)
            return redirect("accounts:alias-list")
    search = request.GET.get("search", "")
    page = Paginator(visible(request, services.alias_list(search=search), lambda a: a.domain), 50).get_page(
        request.GET.get("page")
    )
    context = {
        "page": page,
        "search": search,
        "form": form,
        "regexps": services.regexp_list(),
        "regexp_form": RegexpForm(),
    }
    return render(request, "accounts/alias_list.html", context)


@domain_scoped
@require_http_methods(["GET", "POST"])
def alias_edit(request: HttpRequest, address: str) -> HttpResponse:
    require_domain(request, address.rpartition("@")[2])
    alias = services.alias_get(address=address)
    if alias is None:
        raise Http404(f"There is no alias {address}.")
    form = AliasForm(request.POST or None, initial={"address": alias.address, "targets": "\n".join(alias.targets)})
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.alias_save(
                address=alias.address, targets=form.targets_list(), replace=True, actor=Actor.from_request(request)
            )
        except (FieldError, Conflict) as error:
            add_service_error(form, error)
        else:
            _report(request, "Alias saved.", saved)
            return redirect("accounts:alias-list")
    form.fields["address"].disabled = True
    return render(request, "accounts/alias_edit.html", {"form": form, "alias": alias})


@domain_scoped
@require_http_methods(["GET", "POST"])
def alias_delete(request: HttpRequest, address: str) -> HttpResponse:
    require_domain(request, address.rpartition("@")[2])
    alias = services.alias_get(address=address)
    if alias is None:
        raise Http404(f"There is no alias {address}.")
    actor = Actor.from_request(request)
    if request.method == "POST":
        _report(request, "Alias deleted.", services.alias_delete(address=alias.address, actor=actor))
        return redirect("accounts:alias-list")
    preview = services.alias_delete(address=alias.address, actor=actor, dry_run=True)
    return render(
        request,
        "accounts/confirm_delete.html",
        {"what": f"the alias {alias.address}", "preview": preview.result, "cancel": reverse("accounts:alias-list")},
    )


@superadmin_required
@require_http_methods(["POST"])
def regexp_create(request: HttpRequest) -> HttpResponse:
    form = RegexpForm(request.POST)
    if form.is_valid():
        try:
            saved = services.regexp_save(
                pattern=form.cleaned_data["pattern"],
                flags=form.cleaned_data["flags"],
                targets=form.targets_list(),
                actor=Actor.from_request(request),
            )
        except (FieldError, Conflict) as error:
            add_service_error(form, error)
        else:
            _report(request, "Regexp alias created.", saved)
            return redirect("accounts:alias-list")
    context = {
        "page": Paginator(services.alias_list(), 50).get_page(1),
        "form": AliasForm(),
        "regexps": services.regexp_list(),
        "regexp_form": form,
    }
    return render(request, "accounts/alias_list.html", context, status=400)


@superadmin_required
@require_http_methods(["GET", "POST"])
def regexp_delete(request: HttpRequest, id: str) -> HttpResponse:
    entry = services.regexp_get(id=id)
    if entry is None:
        raise Http404("There is no such regexp alias.")
    actor = Actor.from_request(request)
    if request.method == "POST":
        _report(request, "Regexp alias deleted.", services.regexp_delete(id=id, actor=actor))
        return redirect("accounts:alias-list")
    preview = services.regexp_delete(id=id, actor=actor, dry_run=True)
    return render(
        request,
        "accounts/confirm_delete.html",
        {
            "what": f"the regexp alias /{entry.pattern}/",
            "preview": preview.result,
            "cancel": reverse("accounts:alias-list"),
        },
    )
