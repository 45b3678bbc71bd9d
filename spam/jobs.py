"""RQ jobs of the spam app: thin, ids in, one service call, progress on the JobRun row."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter
from django.utils import timezone

from dms_admin.jobqueue import job_enqueue_once, job_running
from dms_admin.models import JobRun
from spam import services
from spam.models import TrainingSchedule

log = logging.getLogger(__name__)

SCHEDULE_NAMESPACE = uuid.UUID("0b6c3c52-93f5-4e57-8d0e-6a1f6f3d2c18")


def training_job(run_id: str, schedule_id: int) -> None:
    with job_running(run_id) as report:
        services.training_run(schedule_id=schedule_id, job_id=run_id, report=report)


def due_minute(cron: str, tz: str, now: datetime) -> datetime | None:
    """The scheduled minute (UTC) that fired within the minute before `now`, or None.

    croniter works in the schedule's own zone, so 02:30 Europe/Paris is 00:30 UTC in summer and
    01:30 UTC in winter; a minute skipped by a DST change does not fire.
    """
    local_now = now.astimezone(ZoneInfo(tz)).replace(second=0, microsecond=0)
    scheduled: datetime = croniter(cron, local_now + timedelta(minutes=1)).get_prev(datetime)
    if now - scheduled >= timedelta(minutes=1):
        return None
    return scheduled.astimezone(ZoneInfo("UTC"))


def schedule_run_id(schedule_id: int, minute: datetime) -> uuid.UUID:
    return uuid.uuid5(SCHEDULE_NAMESPACE, f"spam-train:{schedule_id}:{minute:%Y%m%d%H%M}")


def dispatch_due_trainings(now: datetime | None = None) -> list[str]:
    """Run by rqcron every minute; reads the schedules each time, so edits need no restart.

    The run's id comes from the schedule and the minute, so two dispatchers (or a retried tick)
    start a due schedule once: the second insert of that id fails.
    """
    now = now or timezone.now()
    started = []
    for schedule in TrainingSchedule.objects.filter(enabled=True):
        try:
            minute = due_minute(schedule.cron, schedule.timezone, now)
        except (ValueError, KeyError) as exc:  # edited behind our back: say so, keep the others going
            log.warning("training schedule %s has a bad cron or time zone: %s", schedule.pk, exc)
            continue
        if minute is None:
            continue
        run_id = schedule_run_id(schedule.pk, minute)
        if JobRun.objects.filter(pk=run_id).exists():
            continue
        if services.training_active() is not None:
            log.warning("training %s due at %s skipped: another training has not ended", schedule.pk, minute)
            continue
        run = job_enqueue_once(
            run_id=run_id, kind=services.TRAIN_KIND, func="spam.jobs.training_job", args=(schedule.pk,),
            timeout=services._train_timeout() * 2 + 300,
        )  # fmt: skip
        if run is not None:  # None: another dispatcher got there first
            started.append(str(run.id))
    return started
