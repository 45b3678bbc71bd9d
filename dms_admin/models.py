from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from dms_admin.jobkinds import is_stoppable


class JobRun(models.Model):
    """One background job as the panel and the API see it: status, progress, outcome."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=40)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    message = models.CharField(max_length=300, blank=True)
    error = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    # What was enqueued, so a failed job can be retried as it was.
    func = models.CharField(max_length=200, blank=True)
    args = models.JSONField(default=list, blank=True)
    queue = models.CharField(max_length=40, default="default")
    # Who asked a running job to stop; the job stops at its next safe point (see jobqueue).
    stop_requested_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["kind", "status"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.status}"

    @property
    def stoppable(self) -> bool:
        return self.status == self.Status.RUNNING and is_stoppable(self.kind) and not self.stop_requested_by

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)

    @property
    def duration(self) -> float | None:
        if not self.started_at:
            return None
        return ((self.finished_at or timezone.now()) - self.started_at).total_seconds()


class AuditEntry(models.Model):
    """Who did what, when, from where, and which commit it produced."""

    class Via(models.TextChoices):
        PANEL = "panel"
        API = "api"
        JOB = "job"
        CLI = "cli"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.CharField(max_length=150)
    via = models.CharField(max_length=10, choices=Via.choices)
    ip = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=60)
    object = models.CharField(max_length=300, blank=True)
    commit = models.CharField(max_length=40, blank=True)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.object}"


class PendingChange(models.Model):
    """A config file change that takes effect only after a reload or a re-create."""

    path = models.CharField(max_length=300)
    action = models.CharField(max_length=10)  # apply.Action label: reload | recreate
    commit = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.path} ({self.action})"
