"""Who may do what: API tokens, domain admins, sign-in failures and second factors.

These models began in `accounts` and `dms_admin`; their tables kept their names (`db_table`),
and the move was recorded in the migrations' state only, so no row moved.
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
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
        db_table = "accounts_apitoken"  # moved from another app; the table kept its name
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

    class Meta:
        db_table = "accounts_domainadmin"  # moved from another app; the table kept its name

    def __str__(self) -> str:
        return f"{self.user} ({', '.join(self.domains)})"


class LoginFailure(models.Model):
    """A failed login; counted per username and per address to throttle guessing."""

    username = models.CharField(max_length=254, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True, db_index=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        db_table = "dms_admin_loginfailure"  # moved from another app; the table kept its name

    def __str__(self) -> str:
        return f"{self.username} {self.ip} {self.at}"


class TwoFactor(models.Model):
    """A user's TOTP authenticator: pending until a first code confirms it, then enabled."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="two_factor")
    secret = models.CharField(max_length=64)  # base32; never shown outside the enrolment page
    enabled = models.BooleanField(default=False)
    # The newest TOTP time step accepted, so a code cannot be used twice within its window.
    last_step = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    enabled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "dms_admin_twofactor"  # moved from another app; the table kept its name

    def __str__(self) -> str:
        return f"2FA for user {self.user_id} ({'on' if self.enabled else 'pending'})"


class RecoveryCode(models.Model):
    """One single-use recovery code, stored only as a password hash."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recovery_codes")
    hash = models.CharField(max_length=200)
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "dms_admin_recoverycode"  # moved from another app; the table kept its name

    def __str__(self) -> str:
        return f"recovery code {self.pk} of user {self.user_id}{' (used)' if self.used_at else ''}"
