"""RQ jobs of the backups app: thin, ids in, one service call, progress on the JobRun row."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from backups import services
from backups.archive import Progress
from backups.models import BackupPolicy
from dms_admin import schedules
from dms_admin.audit import Actor
from dms_admin.jobkinds import has_stop_points
from dms_admin.jobqueue import JobReport, job_running
from dms_admin.models import JobRun

log = logging.getLogger(__name__)

# A due run found up to this late (the dispatcher was down, a slow minute) is still started once.
CATCH_UP = timedelta(minutes=10)
SCHEDULE_NAMESPACE = uuid.UUID("6f0e8f2c-5d1b-4f0a-9f5e-2b7d4c1a9e31")


def _reporter(report: JobReport, verb: str, *, stoppable: bool) -> Callable[[Progress], None]:
    def progress(state: Progress) -> None:
        report.progress(min(state.percent, 99), state.message(verb))
        if stoppable:  # between files: a stopped backup leaves no partial archive, a verify changes nothing
            report.stop_point()

    return progress


@has_stop_points("backup")
def backup_job(run_id: str, policy_id: int) -> None:
    with job_running(run_id) as report:
        report.progress(0, "Listing the files to back up")
        missing = services.missing_roots(policy_id=policy_id)  # raises when nothing at all is there
        archive = services.backup_run(
            policy_id=policy_id, run_id=run_id, progress=_reporter(report, "Backed up", stoppable=True)
        )
        report.set_result(
            archive=archive.pk,
            path=archive.path,
            kind=archive.kind,
            size=archive.size,
            files=archive.file_count,
            duration=round(archive.duration, 2),
            **({"missing": sorted(missing), "warnings": list(missing.values())} if missing else {}),
        )
        report.progress(99, services.backup_summary(archive=archive, missing=missing))
    # Retention only after the run above is recorded as succeeded (services check that); not after a
    # backup that lacks a folder: the older archives still hold it, and retention would remove them.
    removed = [] if missing else services.policy_prune(policy_id=policy_id)
    run = JobRun.objects.get(pk=run_id)
    run.result["pruned"] = removed
    run.message = services.backup_summary(archive=archive, missing=missing, pruned=removed)
    run.save(update_fields=["result", "message"])


@has_stop_points("verify")
def verify_job(run_id: str, archive_id: int) -> None:
    with job_running(run_id) as report:
        services.archive_verify(  # run_id: an encrypted archive's key was handed over for this run
            archive_id=archive_id, run_id=run_id, progress=_reporter(report, "Verified", stoppable=True)
        )
        report.progress(100, "Every checksum matches.")


def prune_job(run_id: str, policy_id: int) -> None:
    with job_running(run_id) as report:
        removed = services.policy_prune(policy_id=policy_id)
        report.set_result(pruned=removed)
        report.progress(100, f"Removed {len(removed)} archive(s).")


def restore_job(
    run_id: str, archive_id: int, scope: str, mailbox: str, dry_run: bool, actor_name: str, actor_via: str
) -> None:
    with job_running(run_id) as report:
        report.progress(0, "Comparing the backup with the disk")
        result = services.archive_restore(
            archive_id=archive_id,
            scope=scope,
            mailbox=mailbox,
            dry_run=dry_run,
            run_id=run_id,
            actor=Actor(name=actor_name, via=actor_via),
            progress=_reporter(report, "Restored", stoppable=False),
        )
        report.set_result(**result)
        counts = result["preview"]["counts"]
        verb = "Would restore" if dry_run else "Restored"
        report.progress(100, f"{verb} {counts['create']} new and {counts['overwrite']} changed file(s).")


# ---- schedule ------------------------------------------------------------------------------------


def schedule_run_id(policy_id: int, minute: datetime) -> uuid.UUID:
    return schedules.schedule_run_id(SCHEDULE_NAMESPACE, "backup", policy_id, minute)


def dispatch_due_backups(now: datetime | None = None) -> list[str]:
    """Run by rqcron every minute; reads the policies each time, so edits need no restart."""
    tick = schedules.dispatch_due(
        BackupPolicy.objects.filter(enabled=True),
        kind="backup",
        func="backups.jobs.backup_job",
        namespace=SCHEDULE_NAMESPACE,
        label="backup policy",
        queue="backups",
        now=now,
        catch_up=CATCH_UP,
        timeout=6 * 3600,
        busy=lambda policy: services._active_run(policy.pk) is not None,
        result=lambda policy: {"policy": policy.pk},
    )
    for policy, minute in tick.waiting:
        log.warning("backup of %s due at %s skipped: the previous run has not ended", policy.name, minute)
    return tick.started
