from __future__ import annotations

import hashlib
import secrets

from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    """A bearer token for the REST API. Only a SHA-256 digest of the secret is stored."""

    class Scope(models.TextChoices):
        READ = "read"
        WRITE = "write"

    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(max_length=16, db_index=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    scope = models.CharField(max_length=5, choices=Scope.choices, default=Scope.READ)
    domains = models.JSONField(default=list, blank=True)  # empty: every domain
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def digest_of(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    def set_new_secret(self) -> str:
        """A fresh secret, returned once; `dms_<prefix>_<random>` so leaked tokens are recognisable."""
        self.prefix = secrets.token_hex(4)
        secret = f"dms_{self.prefix}_{secrets.token_urlsafe(32)}"
        self.digest = self.digest_of(secret)
        return secret

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    def allows_domain(self, domain: str) -> bool:
        return not self.domains or domain.lower() in self.domains


class DomainAdmin(models.Model):
    """An admin limited to some mail domains (a Django staff user who is not a superuser)."""

    user = models.OneToOneField("auth.User", on_delete=models.CASCADE, related_name="domain_admin")
    domains = models.JSONField(default=list)  # lower-case, punycode

    def __str__(self) -> str:
        return f"{self.user} ({', '.join(self.domains)})"


class DnsCheck(models.Model):
    """The latest live DNS check of a domain (its page runs it), for the overview's summary."""

    domain = models.CharField(max_length=253, unique=True)
    checked_at = models.DateTimeField(default=timezone.now)
    failing = models.JSONField(default=list, blank=True)  # record kinds not right: MX, SPF, DKIM, DMARC

    def __str__(self) -> str:
        return f"{self.domain} ({', '.join(self.failing) or 'ok'})"
