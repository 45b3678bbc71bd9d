"""The backups app's part of the health report: the last backup, its result, and the next one.

The last good backup is the newest archive (not a restore's safety copy); a backup job that
failed after it makes the line a warning with the job's reason.
"""

from __future__ import annotations

from django.db.models import Sum
from django.utils import timezone
from django.utils.timesince import timesince

from backups.models import BackupArchive, BackupPolicy
from dms_admin.models import JobRun
from dms_admin.ops.health import BACKUP_MAX_AGE, OK, WARN, Check, next_line
from dms_admin.schedules import next_of
from dms_admin.units import format_bytes

BACKUP_KIND = "backup"


def checks() -> list[Check]:
    now = timezone.now()
    newest = BackupArchive.objects.filter(safety=False).order_by("-created_at").first()
    failed = (
        JobRun.objects.filter(kind=BACKUP_KIND, status__in=[JobRun.Status.SUCCEEDED, JobRun.Status.FAILED])
        .order_by("-created_at")
        .first()
    )
    when = f"{timesince(newest.created_at, now)} ago" if newest else "never"
    age = (now - newest.created_at).total_seconds() if newest else -1
    gauges = (
        ("dms_admin_last_backup_age_seconds", "Seconds since the newest backup archive was made (-1: never)", age),
        (
            "dms_admin_last_backup_succeeded",
            "1 if the last backup job that ended succeeded",
            0 if failed is not None and failed.status == JobRun.Status.FAILED else 1 if newest else 0,
        ),
    )
    if (
        failed is not None
        and failed.status == JobRun.Status.FAILED
        and (newest is None or failed.created_at > newest.created_at)
    ):
        reason = (failed.error.strip().splitlines() or [""])[-1][:200]
        check = Check(
            "backup",
            "Last backup",
            WARN,
            f"The last backup failed: {reason} (last good one: {when}).",
            "Open the job for the whole error; run the backup again once fixed.",
            gauges=gauges,
        )
    elif newest is None:
        check = Check("backup", "Last backup", WARN, "never.", gauges=gauges)
    elif now - newest.created_at > BACKUP_MAX_AGE:
        check = Check(
            "backup",
            "Last backup",
            WARN,
            f"{when}: older than {BACKUP_MAX_AGE.days} days.",
            "Check the schedule and that the worker runs.",
            gauges=gauges,
        )
    else:
        total = BackupArchive.objects.filter(safety=False).aggregate(size=Sum("size"))["size"] or 0
        kind, size = newest.get_kind_display().lower(), format_bytes(newest.size)
        message = f"{when} ({kind}, {size}; all archives {format_bytes(total)})."
        check = Check("backup", "Last backup", OK, message, gauges=gauges)
    schedules = list(BackupPolicy.objects.filter(enabled=True).values_list("cron", "timezone"))
    none = "No backup schedule: nothing is backed up unless you run one."
    return [
        next_line(check, next_of(schedules, now), link="/backups/", kind="backup", now=now, none=none, none_status=WARN)
    ]
