"""Superadmins manage the domain admins (staff users limited to some mail domains)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from access.forms import AdminUsernameField
from access.models import DomainAdmin
from access.roles import superadmin_required
from dms_admin.audit import Actor, audit_record
from dms_admin.errors import FieldError
from dms_admin.mailnames import normalize_domain


class DomainAdminForm(forms.Form):
    username = AdminUsernameField()
    password = forms.CharField(strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    domains = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), help_text="The domains they manage, one per line."
    )

    def clean_domains(self) -> list[str]:
        try:
            domains = sorted({normalize_domain(d, field="domains") for d in self.cleaned_data["domains"].split()})
        except FieldError as error:
            raise forms.ValidationError(error.message) from None
        if not domains:
            raise forms.ValidationError("Give at least one domain.")
        return domains

    def clean_username(self) -> str:
        name = str(self.cleaned_data["username"])
        # Case-blind: "Admin" beside "admin" would read as the same person in the history.
        if get_user_model().objects.filter(username__iexact=name).exists():
            raise forms.ValidationError("That user name is taken.")
        return name

    def clean_password(self) -> str:
        try:
            validate_password(self.cleaned_data["password"])
        except ValidationError as error:
            raise forms.ValidationError(error.messages) from None
        return str(self.cleaned_data["password"])


@superadmin_required
@require_http_methods(["GET", "POST"])
def admin_list(request: HttpRequest) -> HttpResponse:
    form = DomainAdminForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        with transaction.atomic():
            user = get_user_model().objects.create_user(data["username"], password=data["password"], is_staff=True)
            DomainAdmin.objects.create(user=user, domains=data["domains"])
        audit_record(
            actor=Actor.from_request(request),
            action="admin.create",
            object=f"{user.username}: {', '.join(data['domains'])}",
        )
        messages.success(request, f"{user.username} can now manage {', '.join(data['domains'])}.")
        return redirect("admin-list")
    rows = DomainAdmin.objects.select_related("user").order_by("user__username")
    supers = get_user_model().objects.filter(is_superuser=True).order_by("username")
    return render(request, "accounts/admin_list.html", {"form": form, "rows": rows, "supers": supers})


@superadmin_required
@require_http_methods(["GET", "POST"])
def admin_delete(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(DomainAdmin.objects.select_related("user"), pk=pk)
    if request.method == "POST":
        username = row.user.username
        row.user.delete()  # the DomainAdmin row goes with it
        audit_record(actor=Actor.from_request(request), action="admin.delete", object=username)
        messages.success(request, f"{username} was removed.")
        return redirect("admin-list")
    return render(request, "accounts/admin_delete.html", {"row": row})
