"""First run: create the first admin when there is none."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from access.forms import AdminUsernameField
from dms_admin.audit import Actor, audit_record


class FirstAdminForm(forms.Form):
    username = AdminUsernameField(initial="admin")
    password = forms.CharField(strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(
        label="Password again", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        password = data.get("password")
        if password and password != data.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        elif password:
            try:
                validate_password(str(password))
            except ValidationError as error:
                self.add_error("password", error)
        return data


def admin_exists() -> bool:
    return get_user_model().objects.filter(is_superuser=True).exists()


@login_not_required
@require_http_methods(["GET", "POST"])
def first_run(request: HttpRequest) -> HttpResponse:
    if admin_exists():
        return redirect("login")  # only ever for the very first admin
    form = FirstAdminForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            if admin_exists():  # someone was quicker
                return redirect("login")
            user = get_user_model().objects.create_superuser(
                username=form.cleaned_data["username"], password=form.cleaned_data["password"]
            )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        audit_record(actor=Actor.from_request(request), action="setup.first-admin", object=user.get_username())
        return redirect("home")
    return render(request, "dms_admin/first_run.html", {"form": form})
