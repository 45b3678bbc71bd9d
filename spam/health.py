"""The spam app's part of the health report: the last training and the next one."""

from __future__ import annotations

from django.utils import timezone

from dms_admin.models import JobRun
from dms_admin.ops.health import OK, Check, age_check, next_line
from dms_admin.schedules import next_of
from spam.models import TrainingSchedule
from spam.services import TRAIN_KIND


def checks() -> list[Check]:
    now = timezone.now()
    runs = JobRun.objects.filter(kind=TRAIN_KIND)
    last = runs.filter(status=JobRun.Status.SUCCEEDED).order_by("-finished_at").first()
    latest = runs.filter(status__in=[JobRun.Status.SUCCEEDED, JobRun.Status.FAILED]).order_by("-created_at").first()
    check = age_check("training", "Last spam training", last, latest, max_age=None, never_status=OK, now=now)
    schedules = list(TrainingSchedule.objects.filter(enabled=True).values_list("cron", "timezone"))
    return [
        next_line(
            check,
            next_of(schedules, now),
            link="/spam/schedules/",
            kind="training",
            now=now,
            none="No training schedule: the Bayes filter learns only from what is trained by hand.",
        )
    ]
