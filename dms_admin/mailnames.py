"""Domain and address names as DMS's files hold them (pure functions, used by every room).

Postfix runs without SMTPUTF8, so the files hold A-labels (punycode) only (spec §1.1); a lookup
accepts either form. Line breaks and NUL are refused before anything else.
"""

from __future__ import annotations

import re

import idna

from dms_admin.errors import FieldError

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def reject_control(field: str, value: str) -> None:
    if any(ch in value for ch in "\r\n\x00"):
        raise FieldError(field, "Line breaks and NUL characters are not allowed.")


def normalize_domain(value: str, *, field: str = "domain") -> str:
    """Lower-case ASCII domain; an internationalised one becomes its punycode (A-label) form.

    Postfix runs without SMTPUTF8, so DMS's files hold A-labels only (spec §1.1). Unicode input is
    mapped and checked by UTS 46 (IDNA 2008, non-transitional: what browsers and registries use).
    """
    reject_control(field, value)
    domain = value.strip().rstrip(".")
    if not domain:
        raise FieldError(field, "Enter a domain.")
    if len(domain) > 253 * 4:  # far beyond any name: refuse before the IDNA mapping works on it
        raise FieldError(field, "A domain name has at most 253 characters.")
    if domain.isascii():
        domain = domain.lower()
        if any(label.startswith("xn--") and not _is_a_label(label) for label in domain.split(".")):
            raise FieldError(field, f"{value!r} is not a valid domain name (a broken xn-- label).")
    else:
        try:
            domain = idna.encode(domain, uts46=True).decode("ascii").rstrip(".")
        except (idna.IDNAError, UnicodeError) as error:
            raise FieldError(field, f"{value!r} is not a valid internationalised domain name: {error}.") from None
    labels = domain.split(".")
    if len(domain) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise FieldError(field, f"{value!r} is not a valid domain name (like example.com).")
    if labels[-1].isdigit():
        raise FieldError(field, f"{value!r} is not a valid domain name (like example.com).")
    return domain


def _is_a_label(label: str) -> bool:
    try:
        return idna.encode(idna.decode(label)).decode("ascii") == label
    except (idna.IDNAError, UnicodeError):
        return False


def domain_key(value: str) -> str:
    """The stored form of a domain to look it up by, whether typed as Unicode or punycode.

    A name that is not valid comes back merely lower-cased: a lookup then finds nothing (a 404)
    instead of failing, and hand-written lines in odd forms can still be found.
    """
    try:
        return normalize_domain(value)
    except FieldError:
        return value.strip().rstrip(".").lower()


def address_key(value: str) -> str:
    """The stored form of an address (or a catch-all `@domain`) to look it up by; see domain_key."""
    local, at, domain = value.strip().rpartition("@")
    if not at:
        return value.strip().lower()
    return f"{local.lower()}@{domain_key(domain)}"
