"""Checks for what users type, before anything reaches a DMS file (pure functions).

Every error is a `FieldError` naming the field, in words a person understands. Nothing that
could inject a line or a field into a DMS file gets through: line breaks, NUL, `|`, `:`, `,`,
whitespace and a leading `#` are refused everywhere (spec §1.3).
"""

from __future__ import annotations

import re

from accounts.files import QUOTA_SIZE, quota_bytes
from dms_admin.errors import FieldError
from dms_admin.mailnames import normalize_domain, reject_control

# DMS's CLI builds grep/sed regexes from addresses and Postfix runs without SMTPUTF8, so the safe
# local part is lower-case ASCII letters, digits, dot, underscore and hyphen (spec §1.3).
_LOCAL = re.compile(r"^[a-z0-9](?:[a-z0-9._-]*[a-z0-9_-])?$")
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f|:,\s*+\[\]^$\\()?]")


def normalize_address(value: str, *, field: str = "address") -> str:
    """A full, lower-case mail address that is safe in every DMS file."""
    reject_control(field, value)
    address = value.strip()
    if "@" not in address:
        raise FieldError(field, "Enter a full address, like name@example.com.")
    local, _, domain = address.rpartition("@")
    local = local.lower()
    if not local:
        raise FieldError(field, "The part before @ is empty.")
    if _FORBIDDEN.search(local) or local.startswith("#"):
        raise FieldError(field, "Use only letters a-z, digits, dot, hyphen and underscore before the @.")
    if not local.isascii():
        raise FieldError(
            field, "Only ASCII letters are allowed before the @ (the mail server does not support others)."
        )
    if len(local) > 64:
        raise FieldError(field, "The part before @ may be at most 64 characters.")
    if not _LOCAL.match(local) or ".." in local:
        raise FieldError(field, "Use only letters a-z, digits, dot, hyphen and underscore before the @.")
    return f"{local}@{normalize_domain(domain, field=field)}"


def normalize_alias_address(value: str, *, field: str = "address") -> str:
    """An alias key: a full address, or `@domain` for a catch-all."""
    stripped = value.strip()
    if stripped.startswith("@"):
        return "@" + normalize_domain(stripped[1:], field=field)
    return normalize_address(stripped, field=field)


def normalize_target(value: str, *, field: str = "targets") -> str:
    """An alias target: any deliverable address (local or external)."""
    return normalize_address(value, field=field)


# Dovecot takes larger sizes, but nothing real needs more than a petabyte; a typo of a few extra
# digits would otherwise turn into "unlimited in practice" silently.
MAX_QUOTA_BYTES = 1024**5


def validate_quota(value: str, *, field: str = "quota") -> str:
    """A DMS quota size as `setup quota set` accepts it: `<int><B|k|M|G|T>` or 0 (spec §1.7)."""
    reject_control(field, value)
    size = value.strip()
    if len(size) > 32 or not QUOTA_SIZE.match(size):
        raise FieldError(field, "Use a whole number with a unit B, k, M, G or T (like 5G), or 0 for no limit.")
    if (quota_bytes(size) or 0) > MAX_QUOTA_BYTES:
        raise FieldError(field, "A quota may be at most 1024T (1 PB); use 0 for no limit.")
    return size


def validate_password(value: str, *, field: str = "password", min_length: int = 8) -> str:
    # The password is hashed, never written as is, so only what Dovecot cannot take is refused.
    if any(ch in value for ch in "\r\n\x00"):
        raise FieldError(field, "Line breaks and NUL characters are not allowed in a password.")
    if len(value) < min_length:
        raise FieldError(field, f"Use at least {min_length} characters.")
    if len(value) > 1024:
        raise FieldError(field, "Use at most 1024 characters.")
    return value
