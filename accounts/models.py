from __future__ import annotations

from django.db import models
from django.utils import timezone


class DnsCheck(models.Model):
    """The latest live DNS check of a domain (its page runs it), for the overview's summary."""

    domain = models.CharField(max_length=253, unique=True)
    checked_at = models.DateTimeField(default=timezone.now)
    failing = models.JSONField(default=list, blank=True)  # record kinds not right: MX, SPF, DKIM, DMARC

    def __str__(self) -> str:
        return f"{self.domain} ({', '.join(self.failing) or 'ok'})"
