"""The job monitor: every background job, with live progress, retry, cancel and stop.

Superadmins see every job; a domain admin sees the jobs they started (roles.visible_jobs).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from access.roles import domain_scoped, superadmin_required, visible_jobs
from dms_admin import feedback, jobqueue
from dms_admin.audit import Actor
from dms_admin.jobqueue import JobConflict, job_retry, job_stop
from dms_admin.models import JobRun

CONFIRM_KIND = "confirm"


@domain_scoped
@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    runs = visible_jobs(request.user)
    kinds = runs.order_by("kind").values_list("kind", flat=True).distinct()
    kind, state = request.GET.get("kind", ""), request.GET.get("status", "")
    if kind == "all":
        pass
    elif kind:
        runs = runs.filter(kind=kind)
    else:  # one per saved change: hidden unless asked for (a failed one raises the banner)
        runs = runs.exclude(kind=CONFIRM_KIND)
    if state:
        runs = runs.filter(status=state)
    page = Paginator(runs, 50).get_page(request.GET.get("page"))
    live = any(not run.finished for run in page.object_list)
    context = {
        "page": page,
        "kind": kind,
        "status": state,
        "kinds": kinds,
        "statuses": JobRun.Status.values,
        "live": live,
    }
    template = "dms_admin/_job_table.html" if request.headers.get("HX-Request") else "dms_admin/job_list.html"
    return render(request, template, context)


@require_POST
@superadmin_required  # a retry runs the job as it was, without today's domain checks
def job_retry_view(request: HttpRequest, run_id: str) -> HttpResponse:
    run = get_object_or_404(JobRun, pk=run_id)
    try:
        new = job_retry(run=run, actor=Actor.from_request(request))
    except JobConflict as error:
        messages.error(request, str(error))
        return redirect("job-list")
    return redirect("job-detail", run_id=new.id)


@domain_scoped
@require_POST
def job_cancel_view(request: HttpRequest, run_id: str) -> HttpResponse:
    run = get_object_or_404(visible_jobs(request.user), pk=run_id)
    if run.status != JobRun.Status.QUEUED:
        messages.error(request, f"Only a queued job can be cancelled; this one is {run.status}.")
    else:
        jobqueue.job_cancel(run=run, actor=Actor.from_request(request))
        messages.success(request, "Job cancelled.")
    return redirect("job-list")


@domain_scoped
@require_POST
def job_stop_view(request: HttpRequest, run_id: str) -> HttpResponse:
    run = get_object_or_404(visible_jobs(request.user), pk=run_id)
    try:
        job_stop(run=run, actor=Actor.from_request(request))
    except JobConflict as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Stop requested: the job stops at its next safe point.")
    return redirect("job-detail", run_id=run.id)


@login_not_required  # mail users watch their own change too; may_watch checks the session
@require_GET
def apply_status(request: HttpRequest, run_id: str) -> HttpResponse:
    """The in-place status of a saved change's confirmation job (polled by htmx)."""
    if not feedback.may_watch(request, str(run_id)):
        raise Http404("No such change to watch.")
    run = get_object_or_404(JobRun, pk=run_id, kind="confirm")
    return render(request, "dms_admin/_apply_status.html", feedback.watch_context(run))


@domain_scoped
@require_GET
def job_detail(request: HttpRequest, run_id: str) -> HttpResponse:
    run = get_object_or_404(visible_jobs(request.user), pk=run_id)
    template = "dms_admin/_job_progress.html" if request.headers.get("HX-Request") else "dms_admin/job_detail.html"
    return render(request, template, {"run": run})
