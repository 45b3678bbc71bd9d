"""The two ways a service refuses a change; views and the API turn them into messages."""

from __future__ import annotations


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
