"""API token operations (the panel, the CLI and tests use these)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from access.models import ApiToken
from dms_admin.audit import Actor, audit_record
from dms_admin.errors import Conflict, FieldError
from dms_admin.mailnames import normalize_domain


def token_create(
    *, name: str, scope: str, domains: list[str] | None = None, expires_days: int | None = None, actor: Actor
) -> tuple[ApiToken, str]:
    """A new token and its secret, which is returned this once and stored only as a digest."""
    name = name.strip()
    if not name or len(name) > 100 or any(ch in name for ch in "\r\n\x00"):
        raise FieldError("name", "Give the token a name of at most 100 characters on one line.")
    if scope not in ApiToken.Scope.values:
        raise FieldError("scope", "The scope is read or write.")
    if expires_days is not None and not 1 <= expires_days <= 3650:
        raise FieldError("expires", "Expiry is between 1 and 3650 days.")
    clean_domains = sorted({normalize_domain(d, field="domains") for d in domains or []})
    if ApiToken.objects.filter(name=name).exists():
        raise Conflict("name", f"A token named {name!r} exists already.")
    token = ApiToken(
        name=name,
        scope=scope,
        domains=clean_domains,
        created_by=actor.name,
        expires_at=timezone.now() + timedelta(days=expires_days) if expires_days else None,
    )
    secret = token.set_new_secret()
    token.save()
    audit_record(actor=actor, action="token.create", object=name)
    return token, secret


def token_delete(*, token: ApiToken, actor: Actor) -> None:
    token.delete()
    audit_record(actor=actor, action="token.delete", object=token.name)
