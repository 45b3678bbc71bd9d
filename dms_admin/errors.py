"""The two ways a service refuses a change; views and the API turn them into messages."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django import forms


class FieldError(ValueError):
    """Bad input in one field: `message` says why in words a person understands."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class Conflict(Exception):
    """The change contradicts what exists (a duplicate, an alias with that name…)."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def add_service_error(form: forms.Form, error: FieldError | Conflict) -> None:
    """Show a service's refusal on the field it names, or above the form."""
    field = error.field.rsplit(".", 1)[-1] if error.field else None
    form.add_error(field if field in form.fields else None, error.message)
