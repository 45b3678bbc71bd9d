"""Background jobs: a JobRun row per job, enqueued on RQ after the transaction commits.

A job function takes the run id (and plain ids or strings), calls services inside
`job_running()`, and reports progress on the row. Errors are recorded and re-raised: nothing
ends green after a caught error.

Stopping a running job is cooperative: the panel marks the row, and the job raises JobStopped
at its next `report.stop_point()`, placed only where stopping leaves nothing half-done (between
files of a backup, between folders of a training, before a purge removes). Killing the worker
process instead could leave a container stopped mid-re-create or a folder half-restored.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import django_rq
from django.conf import settings
from django.core.signals import setting_changed
from django.db import IntegrityError, OperationalError, transaction
from django.dispatch import receiver
from django.utils import timezone
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.utils import utcparse

from dms_admin.audit import SYSTEM, Actor, audit_record
from dms_admin.jobkinds import is_stoppable
from dms_admin.models import JobRun

log = logging.getLogger(__name__)


class JobConflict(Exception):
    """Another job of the same kind is queued or running."""


# The start of a run's error when Redis would not take it: such a run never reached a worker.
QUEUE_UNREACHABLE = "The job queue (Redis) cannot be reached"


class QueueUnavailable(Exception):
    """Redis cannot be reached, so the work cannot be handed to a worker (API: 503).

    `run` is the job row when one was recorded: it is failed with the reason, and a retry once
    Redis is back starts it again.
    """

    def __init__(self, message: str, run: JobRun | None = None) -> None:
        super().__init__(message)
        self.run = run
        self.done: dict[str, Any] = {}  # what the request did before (a write's change): answered too


def ensure_queued(run: JobRun) -> JobRun:
    """`run`, or QueueUnavailable when Redis refused it: "queued" must never answer a job that
    will not run."""
    if run.status == JobRun.Status.FAILED and (run.error or "").startswith(QUEUE_UNREACHABLE):
        raise QueueUnavailable(run.error, run)
    return run


STOP_CHECK_INTERVAL = 0.5  # seconds between two looks at the row from stop_point()


def job_enqueue(
    *,
    kind: str,
    func: Callable[..., Any] | str,
    args: tuple[Any, ...] = (),
    actor: Actor,
    queue: str = "default",
    timeout: int | None = None,
    exclusive: bool = False,
) -> JobRun:
    if (
        exclusive
        and JobRun.objects.filter(kind=kind, status__in=[JobRun.Status.QUEUED, JobRun.Status.RUNNING]).exists()
    ):
        raise JobConflict(f"A {kind} job is already queued or running.")
    func_path = func if isinstance(func, str) else f"{func.__module__}.{func.__qualname__}"
    run = JobRun.objects.create(kind=kind, created_by=actor.name, func=func_path, args=list(args), queue=queue)
    transaction.on_commit(lambda: _enqueue(run, timeout))
    return run


def job_enqueue_once(
    *,
    run_id: uuid.UUID,
    kind: str,
    func: str,
    args: tuple[Any, ...] = (),
    queue: str = "default",
    timeout: int | None = None,
    result: dict[str, Any] | None = None,
) -> JobRun | None:
    """For schedules: the run's id is derived from (schedule, minute), so when two dispatchers
    see the same due minute only one creates the run; the other gets None."""
    try:
        with transaction.atomic():
            run = JobRun.objects.create(
                id=run_id,
                kind=kind,
                created_by=SYSTEM.name,
                func=func,
                args=list(args),
                queue=queue,
                result=result or {},
            )
    except IntegrityError:
        return None
    _enqueue(run, timeout)
    return run


_QUEUES: dict[str, Any] = {}


def rq_queue(name: str) -> Any:
    """The RQ queue `name`, on one Redis connection pool per process.

    django_rq.get_queue() opens a new pool, so a new connection, per call: ~4 ms of a mailbox
    create went on connecting. Forgotten when RQ_QUEUES changes (tests change it).
    """
    if name not in _QUEUES:
        _QUEUES[name] = django_rq.get_queue(name)
    return _QUEUES[name]


@receiver(setting_changed)
def _forget_queues(*, setting: str, **kwargs: Any) -> None:
    if setting == "RQ_QUEUES":
        _QUEUES.clear()


def _enqueue(run: JobRun, timeout: int | None) -> None:
    # The RQ job id is the run id: cancel and the job monitor find every job the same way.
    try:
        rq_queue(run.queue).enqueue(run.func, str(run.id), *run.args, job_id=str(run.id), job_timeout=timeout)
    except Exception as exc:  # Redis down: the run must not sit "queued" forever
        log.warning("could not enqueue %s: %s", run.kind, exc)
        # The caller still holds `run` (this may run at its transaction's commit): update it as
        # well as the row, so what it answers is what happened.
        run.status, run.error, run.finished_at = JobRun.Status.FAILED, f"{QUEUE_UNREACHABLE}: {exc}", timezone.now()
        JobRun.objects.filter(pk=run.pk).update(status=run.status, error=run.error, finished_at=run.finished_at)


def job_stop(*, run: JobRun, actor: Actor) -> None:
    """Ask a running job to stop at its next safe point."""
    if not is_stoppable(run.kind):
        raise JobConflict(f"A {run.kind} job cannot be stopped midway; it reverts on its own if it fails.")
    if not JobRun.objects.filter(pk=run.pk, status=JobRun.Status.RUNNING).update(stop_requested_by=actor.name):
        raise JobConflict(f"Only a running job can be stopped; this one is {run.status}.")
    run.stop_requested_by = actor.name
    audit_record(actor=actor, action="job.stop", object=f"{run.kind} {run.id}")


def job_retry(*, run: JobRun, actor: Actor) -> JobRun:
    """Run a failed job again, as a new run with the same function and arguments."""
    if run.status != JobRun.Status.FAILED or not run.func:
        raise JobConflict("Only a failed job can be retried.")
    return job_enqueue(kind=run.kind, func=run.func, args=tuple(run.args), actor=actor, queue=run.queue)


class JobReport:
    def __init__(self, run: JobRun) -> None:
        self.run = run
        self._stop_checked = float("-inf")  # the first stop_point() always looks

    def progress(self, percent: int | None, message: str) -> None:
        fields = {"message": message[:300]}
        if percent is not None:
            fields["progress"] = max(0, min(100, percent))  # type: ignore[assignment]
        try:
            _while_locked(lambda: JobRun.objects.filter(pk=self.run.pk).update(**fields))
        except OperationalError as exc:  # a progress line is not worth failing the job for
            log.warning("job %s: progress not recorded: %s", self.run.pk, exc)
        for key, value in fields.items():
            setattr(self.run, key, value)

    def set_result(self, **result: Any) -> None:
        self.run.result.update(result)

    def stop_point(self) -> None:
        """Raise JobStopped if someone asked this job to stop; cheap enough to call per file."""
        now = time.monotonic()
        if now - self._stop_checked < STOP_CHECK_INTERVAL:
            return
        self._stop_checked = now
        try:
            who = JobRun.objects.filter(pk=self.run.pk).values_list("stop_requested_by", flat=True).first()
        except OperationalError as exc:  # locked for a moment: look again at the next stop point
            log.warning("job %s: stop request not checked: %s", self.run.pk, exc)
            return
        if who:
            raise JobStopped(f"Stopped by {who} before it finished; nothing was left half-done.")


class JobCancelled(Exception):
    pass


class JobStopped(Exception):
    """A running job stopped at a safe point because an admin asked it to."""


@contextlib.contextmanager
def job_running(run_id: str) -> Iterator[JobReport]:
    run = JobRun.objects.get(pk=run_id)
    if run.status != JobRun.Status.QUEUED:
        raise JobCancelled(f"Run {run_id} is {run.status}, not queued (cancelled?): not started.")
    run.status, run.started_at = JobRun.Status.RUNNING, timezone.now()
    _while_locked(lambda: run.save(update_fields=["status", "started_at"]))
    report = JobReport(run)
    try:
        yield report
    except BaseException as exc:
        run.status, run.error, run.finished_at = JobRun.Status.FAILED, str(exc) or type(exc).__name__, timezone.now()
        _while_locked(
            lambda: run.save(update_fields=["status", "error", "finished_at", "result", "message", "progress"])
        )
        raise
    run.status, run.progress, run.finished_at = JobRun.Status.SUCCEEDED, 100, timezone.now()
    _while_locked(lambda: run.save(update_fields=["status", "progress", "finished_at", "result", "message"]))


def _while_locked(write: Callable[[], object], attempts: int = 8) -> None:
    """Run a write, again after a pause while SQLite says the database (or a table) is locked.

    A job's status row must not stay "running" because the web process happened to hold the
    write lock for a moment (SQLite's own busy timeout does not cover every case of it).
    """
    for attempt in range(attempts):
        try:
            write()
            return
        except OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05 * 2**attempt)


def job_cancel(*, run: JobRun, actor: Actor) -> None:
    """Cancel a queued job: RQ drops it, the row says who cancelled it."""
    import django_rq
    from django.utils import timezone
    from redis.exceptions import RedisError
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    # If Redis is down the job cannot start now; should it come back, job_running sees the row
    # is no longer queued and does not run it.
    with contextlib.suppress(NoSuchJobError, RedisError):
        Job.fetch(str(run.id), connection=django_rq.get_connection()).cancel()
    JobRun.objects.filter(pk=run.pk, status=JobRun.Status.QUEUED).update(
        status=JobRun.Status.FAILED, error=f"Cancelled by {actor.name}.", finished_at=timezone.now()
    )
    audit_record(actor=actor, action="job.cancel", object=f"{run.kind} {run.id}")


# ---- orphans: rows a dead worker or a lost queue left "running" (or "queued") -----------------------

REAP_STALE_AFTER = timedelta(seconds=90)  # 3 of RQ's 30 s job-monitoring heartbeats missed
RETRY_HINT = "Retry it; if it stops again, look at the worker's log and its memory."
DEAD_WORKER = "The worker running this job stopped (killed or out of memory) before it finished."
SILENT_WORKER = "The worker running this job stopped answering {ago} s ago (killed, out of memory, or restarted)."
LOST_RUNNING = "The job queue (Redis) no longer knows this job, which was running: Redis restarted or was emptied."
FAILED_IN_QUEUE = "The job failed in the job queue before it could start."
ENDED_BADLY = (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)


def reap_orphans(*, stale_after: timedelta = REAP_STALE_AFTER, now: datetime | None = None) -> list[JobRun]:
    """Mark failed, with the reason, each running row whose job no worker is running any more.

    Run by housekeeping every minute. RQ's own abandoned-job handling goes first (the started
    registry moves jobs whose worker stopped sending heartbeats to the failed registry); then a
    row is an orphan when its RQ job failed or was stopped (RQ records a killed work horse as
    "terminated unexpectedly"), when the worker named on it has not sent a heartbeat for
    `stale_after` (or is gone), or when Redis no longer knows the job `stale_after` after it
    started. A queued row whose job Redis lost (restarted without persistence) is enqueued again:
    it never started, so running it is what was asked (a scheduled run is not missed).
    """
    now = now or timezone.now()
    connection = rq_queue("default").connection
    for name in settings.RQ_QUEUES:
        StartedJobRegistry(name, connection=connection).cleanup()
    reaped = []
    for run in JobRun.objects.filter(status=JobRun.Status.RUNNING):
        reason = _orphan_reason(run, connection, now, stale_after)
        if reason and _mark_orphan(run, f"{reason} {RETRY_HINT}", now):
            reaped.append(run)
    for run in JobRun.objects.filter(status=JobRun.Status.QUEUED, created_at__lt=now - stale_after):
        _requeue_if_lost(run, connection, now)
    return reaped


def _orphan_reason(run: JobRun, connection: Any, now: datetime, stale_after: timedelta) -> str:
    try:
        job = Job.fetch(str(run.id), connection=connection)
    except NoSuchJobError:
        started = run.started_at or run.created_at
        return LOST_RUNNING if now - started > stale_after else ""
    status = job.get_status(refresh=False)
    if status in ENDED_BADLY:
        return _with_rq_detail(DEAD_WORKER, job)
    if status != JobStatus.STARTED or not job.worker_name:
        return ""
    beat = connection.hget(f"rq:worker:{job.worker_name}", "last_heartbeat")
    if beat is None:
        return DEAD_WORKER
    ago = (now - utcparse(beat.decode())).total_seconds()
    return SILENT_WORKER.format(ago=round(ago)) if ago > stale_after.total_seconds() else ""


def _mark_orphan(run: JobRun, error: str, now: datetime) -> bool:
    """Fail the row if it is still running (the job may have ended meanwhile)."""
    done = JobRun.objects.filter(pk=run.pk, status=JobRun.Status.RUNNING).update(
        status=JobRun.Status.FAILED, error=error, finished_at=now
    )
    if done:
        log.warning("job %s %s reaped: %s", run.kind, run.pk, error)
        audit_record(actor=SYSTEM, action="job.reaped", object=f"{run.kind} {run.id}", detail=error)
        run.status, run.error, run.finished_at = JobRun.Status.FAILED, error, now
    return bool(done)


def _requeue_if_lost(run: JobRun, connection: Any, now: datetime) -> None:
    try:
        job = Job.fetch(str(run.id), connection=connection)
    except NoSuchJobError:
        log.warning("job %s %s was queued but Redis lost it: enqueued again", run.kind, run.pk)
        _enqueue(run, None)
        return
    if job.get_status(refresh=False) in ENDED_BADLY:
        JobRun.objects.filter(pk=run.pk, status=JobRun.Status.QUEUED).update(
            status=JobRun.Status.FAILED, error=_with_rq_detail(FAILED_IN_QUEUE, job), finished_at=now
        )


def _with_rq_detail(reason: str, job: Job) -> str:
    """The reason, with the last line of what RQ recorded (e.g. "Work-horse terminated unexpectedly")."""
    result = job.latest_result()
    lines = (result.exc_string or "").strip().splitlines() if result else []
    return f"{reason} (RQ: {lines[-1][:300]})" if lines else reason
