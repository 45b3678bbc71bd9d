from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from django import forms
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError

from dms_admin import units
from dms_admin.configstore import EXTERNAL_AUTHOR, SYSTEM_AUTHOR
from dms_admin.errors import FieldError
from dms_admin.settings_service import Setting, settings_validate

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


# ---- mailserver.env fields (the settings page and the spam settings page) -------------------------------

# DMS wants these in bytes (spec §3.1); the form also takes 50M or 5G (binary, as quotas) and stores bytes.
BYTE_VARS = frozenset({"POSTFIX_MESSAGE_SIZE_LIMIT", "POSTFIX_MAILBOX_SIZE_LIMIT"})


def _as_stored(name: str, value: str) -> str:
    if name in BYTE_VARS and value.strip() and not value.strip().isdigit():
        try:
            return str(units.parse_size(value))
        except ValueError as error:
            raise FieldError(name, f"{name}: {error}") from error
    return value


def settings_changes(posted: Mapping[str, str], rows: list[Setting]) -> tuple[dict[str, str | None], dict[str, str]]:
    """Only what the admin changed (untouched fields are not rewritten: quoting, order kept), and
    every field that fails on its own, so one submit shows all its errors at once."""
    updates: dict[str, str | None] = {}
    errors: dict[str, str] = {}
    for row in rows:
        if row.var is None or row.name not in posted:
            continue
        value = posted[row.name]
        if row.secret and value == "":
            continue  # write-only: empty keeps the stored secret
        try:
            value = _as_stored(row.name, value)
            if value != row.value:
                updates[row.name] = value if value != "" or row.is_set else None
                settings_validate({row.name: updates[row.name]})
        except FieldError as error:
            errors[error.field if error.field in posted else row.name] = error.message
    return updates, errors


# ---- schedule fields (backup policies, training schedules): checked in the form so that every bad
# field shows at once; the services check the same again on their own --------------------------------


def validate_cron(value: str) -> None:
    cron = " ".join(str(value or "").split())
    if len(cron.split()) != 5 or not croniter.is_valid(cron):
        raise forms.ValidationError("Not a valid cron expression: five fields, like 30 3 * * * (03:30 every day).")


def validate_timezone(value: str) -> None:
    try:
        ZoneInfo(value or "")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise forms.ValidationError("Not a known time zone, like Europe/Berlin or UTC.") from exc
