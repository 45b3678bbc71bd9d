"""Forms of signing in, the second factor and admin accounts."""

from __future__ import annotations

import unicodedata

from django import forms
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError

from dms_admin.historyrepo import EXTERNAL_AUTHOR, SYSTEM_AUTHOR

# Names the history and the audit log already use for someone else: no admin may take them.
RESERVED_USERNAMES = frozenset({SYSTEM_AUTHOR, EXTERNAL_AUTHOR, "anonymous", "unknown"})


def validate_admin_username(value: str) -> None:
    """Django's username rule (letters, digits, @ . + - _), on one line, not one dms-admin uses."""
    # A newline in a name would start a new line in commit authors, logs and the audit CSV.
    if any(unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp") for ch in value):
        raise ValidationError("A user name cannot contain control characters such as a newline or a tab.")
    UnicodeUsernameValidator()(value)
    if value.lower() in RESERVED_USERNAMES:
        raise ValidationError(f"{value!r} is what dms-admin calls its own entries in the history; choose another name.")


class AdminUsernameField(forms.CharField):
    """An admin's user name; the first run, the admin page and `ensure_admin` all check it here."""

    default_validators = [validate_admin_username]

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("max_length", 150)  # auth.User.username
        kwargs.setdefault("help_text", "Letters, digits and @ . + - _ only.")
        super().__init__(**kwargs)  # type: ignore[arg-type]


class LoginForm(forms.Form):
    username = forms.CharField(
        max_length=254, widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"})
    )
    password = forms.CharField(strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


class SecondFactorForm(forms.Form):
    code = forms.CharField(
        max_length=32,
        help_text="The 6 digits your authenticator app shows now, or one of your recovery codes.",
        widget=forms.TextInput(
            attrs={"autofocus": True, "autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )


class TotpConfirmForm(forms.Form):
    code = forms.CharField(
        label="Code from the app",
        max_length=10,
        help_text="The 6 digits the app shows for dms-admin.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100)
    scope = forms.ChoiceField(choices=[("read", "read only"), ("write", "read and write")])
    domains = forms.CharField(required=False, help_text="Limit to these domains, one per line; empty for all.")
    expires = forms.IntegerField(
        required=False, min_value=1, max_value=3650, help_text="Days until it expires; empty for never."
    )
