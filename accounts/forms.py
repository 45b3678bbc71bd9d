from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings

from accounts import validation
from dms_admin.errors import FieldError

QUOTA_HELP = (
    "A size like 5G, 500M or 512k (1G = 1024M, as Dovecot counts); empty for the server default, 0 for no limit."
)
_QUOTA_INPUT = re.compile(r"^\s*(\d+)\s*([bkmgt])(?:i?b)?\s*$", re.IGNORECASE)
_QUOTA_UNIT = {"b": "B", "k": "k", "m": "M", "g": "G", "t": "T"}


def _checked(check: Callable[..., Any], value: str, **kwargs: Any) -> None:
    """A service's own field check, run in the form so that every bad field of a submit shows at once."""
    try:
        check(value, **kwargs)
    except FieldError as error:
        raise forms.ValidationError(error.message) from None


def clean_quota_input(value: str) -> str:
    """`5 GB`, `500mb`, `5g` as DMS writes them (`5G`, `500M`); the rest as typed, for the check to refuse."""
    match = _QUOTA_INPUT.match(value or "")
    size = f"{match[1]}{_QUOTA_UNIT[match[2].lower()]}" if match else (value or "").strip()
    if size:
        _checked(validation.validate_quota, size)
    return size


class MailboxCreateForm(forms.Form):
    address = forms.CharField(
        max_length=320, widget=forms.TextInput(attrs={"placeholder": "name@example.com", "autocomplete": "off"})
    )
    password = forms.CharField(strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(
        label="Password again", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    quota = forms.CharField(max_length=32, required=False, help_text=QUOTA_HELP)

    def clean_address(self) -> str:
        _checked(validation.normalize_address, self.cleaned_data["address"])
        return str(self.cleaned_data["address"])

    def clean_password(self) -> str:
        min_length = settings.DMS_MAILBOX_PASSWORD_MIN_LENGTH
        _checked(validation.validate_password, self.cleaned_data["password"], min_length=min_length)
        return str(self.cleaned_data["password"])

    def clean_quota(self) -> str:
        return clean_quota_input(self.cleaned_data["quota"])

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("password") and data.get("password") != data.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        return data


class PasswordForm(forms.Form):
    password = forms.CharField(
        label="New password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label="Password again", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("password") and data.get("password") != data.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        return data


class MailboxDeleteForm(forms.Form):
    purge = forms.BooleanField(required=False, label="Also delete all mail of this mailbox (cannot be undone)")


class QuotaForm(forms.Form):
    quota = forms.CharField(max_length=32, required=False, help_text=QUOTA_HELP)

    def clean_quota(self) -> str:
        return clean_quota_input(self.cleaned_data["quota"])


class AliasForm(forms.Form):
    address = forms.CharField(
        max_length=320, help_text="name@example.com, or @example.com to catch all other mail of the domain."
    )
    targets = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), help_text="One address per line (mailboxes here or elsewhere)."
    )

    def clean_address(self) -> str:
        _checked(validation.normalize_alias_address, self.cleaned_data["address"])
        return str(self.cleaned_data["address"])

    def clean_targets(self) -> str:
        bad = []
        for target in (t.strip() for t in self.cleaned_data["targets"].splitlines()):
            try:
                if target:
                    validation.normalize_target(target)
            except FieldError as error:
                bad.append(f"{target}: {error.message}")
        if bad:  # every bad line at once, not the first only
            raise forms.ValidationError(bad)
        return str(self.cleaned_data["targets"])

    def targets_list(self) -> list[str]:
        return [t.strip() for t in self.cleaned_data["targets"].splitlines() if t.strip()]


class RegexpForm(forms.Form):
    pattern = forms.CharField(
        max_length=1000, strip=False, help_text="A PCRE pattern without slashes, like ^sales-.*@example\\.com$"
    )
    flags = forms.CharField(max_length=3, required=False, help_text="i for case-insensitive (usual for addresses).")
    targets = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="One address per line.")

    def targets_list(self) -> list[str]:
        return [t.strip() for t in self.cleaned_data["targets"].splitlines() if t.strip()]


class RelayForm(forms.Form):
    domain = forms.CharField(max_length=253, help_text="The sender domain this relay is for.")
    host = forms.CharField(
        max_length=253, required=False, help_text="Like smtp.mailgun.org; empty to exclude the domain from RELAY_HOST."
    )
    port = forms.IntegerField(min_value=1, max_value=65535, initial=587)
    username = forms.CharField(max_length=254, required=False)
    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Never shown again; leave empty to keep the stored one.",
    )


class RestrictionForm(forms.Form):
    address = forms.CharField(max_length=320)
    direction = forms.ChoiceField(choices=[("send", "may not send"), ("receive", "may not receive")])
