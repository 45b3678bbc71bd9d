"""What the panel says after a write: the outcome's words, and for a change DMS applies by
itself a message that updates in place (htmx) until the confirmation job has finished.

The confirmation job's id is remembered in the session, so whoever made the change (admin or
mail user) may watch it, and nobody else.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest
from django.utils import timezone

from dms_admin.changes import ApplyState, ChangeOutcome
from dms_admin.models import JobRun
from dms_admin.plain import explain

WATCH_SESSION_KEY = "apply_watch"
WATCH_KEEP = 20
# Between the "what" and the live status in a watched message (the template splits there).
STATUS_SEPARATOR = "\x1f"
# A confirmation nobody has started after this long means no worker runs: say so.
NO_WORKER_AFTER = 20
# Stop polling after this long; the Jobs page still has the answer.
WATCH_FOR = 300
_LEVELS = {
    ApplyState.APPLIED: messages.SUCCESS,
    ApplyState.PENDING: messages.INFO,
    ApplyState.NEEDS_APPLY: messages.WARNING,
    ApplyState.FAILED: messages.ERROR,
}


def change_message(request: HttpRequest, what: str, outcome: ChangeOutcome | None) -> None:
    """`what` ("Mailbox created.") followed by where the change stands."""
    if outcome is None:
        return
    tags = f"apply {outcome.state}"
    text = f"{what} {outcome.message}".strip()
    if outcome.state == ApplyState.PENDING and outcome.job is not None:
        job_id = str(outcome.job.id)
        tags += f" watch-{job_id}"
        watched = [j for j in request.session.get(WATCH_SESSION_KEY, []) if j != job_id]
        request.session[WATCH_SESSION_KEY] = [*watched, job_id][-WATCH_KEEP:]
        status = outcome.message.removeprefix(outcome.written).strip()
        text = f"{what} {outcome.written}".strip() + STATUS_SEPARATOR + status
    messages.add_message(request, _LEVELS[outcome.state], text, extra_tags=tags)


def may_watch(request: HttpRequest, job_id: str) -> bool:
    return job_id in request.session.get(WATCH_SESSION_KEY, [])


def watch_context(run: JobRun) -> dict[str, Any]:
    """What the status line of a watched change says now."""
    age = (timezone.now() - run.created_at).total_seconds()
    context: dict[str, Any] = {"run": run, "state": ApplyState.PENDING, "polling": age < WATCH_FOR}
    if run.status == JobRun.Status.SUCCEEDED:
        took = ((run.finished_at or timezone.now()) - run.created_at).total_seconds()
        context.update(state=ApplyState.APPLIED, polling=False, took=took)
    elif run.status == JobRun.Status.FAILED:
        context.update(state=ApplyState.FAILED, polling=False, problem=explain(run.error or ""))
    elif run.status == JobRun.Status.QUEUED and age > NO_WORKER_AFTER:
        context["no_worker"] = True
    return context


def failure(request: HttpRequest, prefix: str, error: BaseException | str) -> None:
    """An error message in plain words with the fix; the raw text goes behind "details"."""
    problem = explain(error)
    text = f"{prefix} {problem.with_fix}".strip()
    if problem.details and problem.details != problem.sentence:
        text += STATUS_SEPARATOR + problem.details
    messages.error(request, text, extra_tags="problem")
