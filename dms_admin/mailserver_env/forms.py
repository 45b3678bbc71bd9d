from __future__ import annotations

from collections.abc import Mapping

from dms_admin import units
from dms_admin.errors import FieldError
from dms_admin.mailserver_env.service import Setting, settings_validate

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
