from __future__ import annotations

from django.db import models


class ForwardingPolicy(models.Model):
    """How far a domain's mail users may forward their own mail (admins may always set a forward).

    Kept in the dashboard's database, not in a DMS file: DMS has no such rule, the self-service
    pages are ours. A domain without a row allows any target.
    """

    class Policy(models.TextChoices):
        ANY = "any", "to any address"
        INTERNAL = "internal", "only to this server's domains"
        OFF = "off", "not at all"

    domain = models.CharField(max_length=253, unique=True)  # A-label (punycode), as DMS's files hold it
    policy = models.CharField(max_length=10, choices=Policy.choices, default=Policy.ANY)

    def __str__(self) -> str:
        return f"{self.domain}: {self.policy}"
