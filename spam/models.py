from __future__ import annotations

from django.db import models
from django.utils.timezone import now

from dms_admin.models import JobRun


def default_spam_folders() -> list[str]:
    return [".Junk"]


def default_ham_folders() -> list[str]:
    return [".Archives*", ".INBOX.*"]


class TrainingSchedule(models.Model):
    """When and from which Maildir folders the Bayes filter learns spam and ham."""

    class Scope(models.TextChoices):
        ALL = "all", "All mailboxes"
        DOMAIN = "domain", "One domain"
        MAILBOX = "mailbox", "One mailbox"

    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.ALL)
    target = models.CharField(max_length=320, blank=True, help_text="The domain or mailbox; empty for all.")
    spam_folders = models.JSONField(default=default_spam_folders)
    ham_folders = models.JSONField(default=default_ham_folders)
    cron = models.CharField(max_length=100, default="0 2 * * *")
    timezone = models.CharField(max_length=64, default="UTC")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.get_scope_display()} {self.target}".strip()


class TrainingRun(models.Model):
    """One training run: what it read, what the Bayes database held before and after."""

    schedule = models.ForeignKey(
        TrainingSchedule, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    job = models.OneToOneField(JobRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="training")
    engine = models.CharField(max_length=12, default="spamassassin")
    started_at = models.DateTimeField(default=now, db_index=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    spam_folders = models.JSONField(default=list)
    ham_folders = models.JSONField(default=list)
    learned_spam = models.PositiveIntegerField(default=0)
    learned_ham = models.PositiveIntegerField(default=0)
    examined_spam = models.PositiveIntegerField(default=0)
    examined_ham = models.PositiveIntegerField(default=0)
    nspam_before = models.PositiveIntegerField(null=True, blank=True)
    nham_before = models.PositiveIntegerField(null=True, blank=True)
    nspam_after = models.PositiveIntegerField(null=True, blank=True)
    nham_after = models.PositiveIntegerField(null=True, blank=True)
    ntokens_after = models.PositiveIntegerField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    errors = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"training {self.started_at:%Y-%m-%d %H:%M}"
