from __future__ import annotations

from django.db import models
from django.utils.timezone import now

from dms_admin.models import JobRun


class BackupPolicy(models.Model):
    """What to back up, where, when, and how long to keep it."""

    class Compression(models.TextChoices):
        GZIP = "gzip"
        ZSTD = "zstd"

    name = models.SlugField(max_length=60, unique=True)
    include_mail = models.BooleanField(default=True)
    include_state = models.BooleanField(default=True)
    include_config = models.BooleanField(default=True)
    destination = models.CharField(max_length=500, help_text="A folder on a mounted backup volume.")
    cron = models.CharField(max_length=100, default="30 3 * * *")
    timezone = models.CharField(max_length=64, default="UTC")
    compression = models.CharField(max_length=4, choices=Compression.choices, default=Compression.GZIP)
    incremental = models.BooleanField(default=False)
    # An age public key (age1…): archives are encrypted to it. Public, so stored; the secret key never is.
    age_recipient = models.CharField(max_length=100, blank=True, default="")
    keep_last = models.PositiveIntegerField(default=7)
    keep_daily = models.PositiveIntegerField(default=7)
    keep_weekly = models.PositiveIntegerField(default=4)
    keep_monthly = models.PositiveIntegerField(default=3)
    max_age_days = models.PositiveIntegerField(default=30, help_text="0: no age limit.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "backup policies"

    def __str__(self) -> str:
        return self.name

    @property
    def include(self) -> list[str]:
        return [n for n in ("mail", "state", "config") if getattr(self, f"include_{n}")]


class BackupArchive(models.Model):
    """One archive on the backup volume, with its manifest next to it."""

    class Kind(models.TextChoices):
        FULL = "full"
        INCREMENTAL = "incremental"

    policy = models.ForeignKey(BackupPolicy, on_delete=models.PROTECT, related_name="archives")
    path = models.CharField(max_length=1000, unique=True)
    manifest_path = models.CharField(max_length=1000)
    created_at = models.DateTimeField(default=now, db_index=True)  # UTC
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.FULL)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    safety = models.BooleanField(default=False, help_text="Taken automatically before a restore.")
    size = models.BigIntegerField(default=0)
    source_bytes = models.BigIntegerField(default=0)
    file_count = models.PositiveIntegerField(default=0)
    duration = models.FloatField(default=0)
    sha256 = models.CharField(max_length=64)
    verified_at = models.DateTimeField(null=True, blank=True)
    age_recipient = models.CharField(max_length=100, blank=True, default="", help_text="Encrypted to this age key.")
    run = models.ForeignKey(JobRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.path

    @property
    def encrypted(self) -> bool:
        return bool(self.age_recipient)
