"""RQ jobs of the spam app: thin, ids in, one service call, progress on the JobRun row."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from dms_admin import schedules
from dms_admin.jobkinds import has_stop_points
from dms_admin.jobqueue import job_running
from spam import services
from spam.models import TrainingSchedule

log = logging.getLogger(__name__)

SCHEDULE_NAMESPACE = uuid.UUID("0b6c3c52-93f5-4e57-8d0e-6a1f6f3d2c18")


@has_stop_points("spam-train")
def training_job(run_id: str, schedule_id: int) -> None:
    with job_running(run_id) as report:
        services.training_run(schedule_id=schedule_id, job_id=run_id, report=report)


def schedule_run_id(schedule_id: int, minute: datetime) -> uuid.UUID:
    return schedules.schedule_run_id(SCHEDULE_NAMESPACE, services.TRAIN_KIND, schedule_id, minute)


def dispatch_due_trainings(now: datetime | None = None) -> list[str]:
    """Run by rqcron every minute; reads the schedules each time, so edits need no restart."""
    rows = map(
        schedules.EnabledRow._make, TrainingSchedule.objects.filter(enabled=True).values_list("id", "cron", "timezone")
    )
    tick = schedules.dispatch_due(
        rows,
        kind=services.TRAIN_KIND,
        func="spam.jobs.training_job",
        namespace=SCHEDULE_NAMESPACE,
        label="training schedule",
        now=now,
        timeout=services._train_timeout() * 2 + 300,
        # one training at a time: two sa-learn on one Bayes DB only wait for each other's lock
        busy=lambda _: services.training_active() is not None,
        one_at_a_time=True,
    )
    if tick.waiting:
        ids = [str(row.id) for row, _ in tick.waiting]
        log.warning(
            "%d training(s) due at %s skipped, another training has not ended: schedule(s) %s",
            len(ids),
            tick.waiting[0][1],
            ", ".join(ids[:20]) + (" …" if len(ids) > 20 else ""),
        )
    return tick.started
