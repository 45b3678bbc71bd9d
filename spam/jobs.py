"""RQ jobs of the spam app: thin, ids in, one service call, progress on the JobRun row."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from django.utils import timezone

from dms_admin.jobqueue import job_enqueue_once, job_running
from dms_admin.models import JobRun
from dms_admin.schedules import due_minute
from spam import services
from spam.models import TrainingSchedule

log = logging.getLogger(__name__)

SCHEDULE_NAMESPACE = uuid.UUID("0b6c3c52-93f5-4e57-8d0e-6a1f6f3d2c18")


def training_job(run_id: str, schedule_id: int) -> None:
    with job_running(run_id) as report:
        services.training_run(schedule_id=schedule_id, job_id=run_id, report=report)


def schedule_run_id(schedule_id: int, minute: datetime) -> uuid.UUID:
    return uuid.uuid5(SCHEDULE_NAMESPACE, f"spam-train:{schedule_id}:{minute:%Y%m%d%H%M}")


def dispatch_due_trainings(now: datetime | None = None) -> list[str]:
    """Run by rqcron every minute; reads the schedules each time, so edits need no restart.

    The run's id comes from the schedule and the minute, so two dispatchers (or a retried tick)
    start a due schedule once: the second insert of that id fails.
    """
    now = now or timezone.now()
    due: list[tuple[int, uuid.UUID]] = []
    due_at = now
    for pk, cron, tz in TrainingSchedule.objects.filter(enabled=True).values_list("pk", "cron", "timezone"):
        try:
            minute = due_minute(cron, tz, now)
        except (ValueError, KeyError) as exc:  # edited behind our back: say so, keep the others going
            log.warning("training schedule %s has a bad cron or time zone: %s", pk, exc)
            continue
        if minute is not None:
            due.append((pk, schedule_run_id(pk, minute)))
            due_at = minute  # the same minute for all: the one that started now
    if not due:
        return []
    # The runs of this minute that exist already (a retried tick, a second dispatcher), in a few queries.
    ids = [run_id for _, run_id in due]
    known = {
        pk
        for i in range(0, len(ids), 500)
        for pk in JobRun.objects.filter(pk__in=ids[i : i + 500]).values_list("pk", flat=True)
    }
    busy = services.training_active() is not None
    started, skipped = [], []
    for pk, run_id in due:
        if run_id in known:
            continue
        if busy:  # one training at a time: two sa-learn on one Bayes DB only wait for each other's lock
            skipped.append(pk)
            continue
        run = job_enqueue_once(
            run_id=run_id, kind=services.TRAIN_KIND, func="spam.jobs.training_job", args=(pk,),
            timeout=services._train_timeout() * 2 + 300,
        )  # fmt: skip
        busy = True  # this one now, or the same run another dispatcher got in first
        if run is not None:
            started.append(str(run.id))
    if skipped:
        log.warning(
            "%d training(s) due at %s skipped, another training has not ended: schedule(s) %s",
            len(skipped), due_at, ", ".join(map(str, skipped[:20])) + (" …" if len(skipped) > 20 else ""),
        )  # fmt: skip
    return started
