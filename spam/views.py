"""Spam panel pages: thin, authorize, validate, call one service, respond."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.forms import add_service_error
from dms_admin.audit import Actor
from dms_admin.dms import DockerUnavailable
from dms_admin.errors import FieldError
from dms_admin.jobqueue import JobConflict
from spam import files, services
from spam.forms import RulesForm, ScheduleForm
from spam.models import TrainingRun, TrainingSchedule
from spam.plot import bayes_svg


def admin_only(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not (request.user.is_staff or request.user.is_superuser):
            raise PermissionDenied("Spam filtering is for admins only.")
        return view(request, *args, **kwargs)

    return wrapper


def _engine() -> str | None:
    try:
        return services.engine_active()
    except DockerUnavailable:
        return None


@require_http_methods(["GET", "POST"])
@admin_only
def spam_settings(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            updates, outcome = services.spam_settings_update(
                posted=request.POST.dict(), actor=Actor.from_request(request)
            )
        except FieldError as error:
            messages.error(request, f"Not saved: {error.message}")
        else:
            text = f"Saved {', '.join(sorted(updates))}. {outcome.message}" if outcome else "Nothing changed."
            messages.success(request, text) if outcome else messages.info(request, text)
            return redirect("spam:settings")
    rows, problems = services.spam_settings_read()
    context = {"rows": rows, "problems": problems, "subdomains": services.subdomains_get(), "engine": _engine()}
    return render(request, "spam/settings_edit.html", context, status=400 if request.method == "POST" else 200)


@require_POST
@admin_only
def subdomains(request: HttpRequest) -> HttpResponse:
    enabled = request.POST.get("enabled") == "1"
    _, outcome = services.subdomains_set(enabled=enabled, actor=Actor.from_request(request))
    messages.success(
        request, f"Spam headers for subdomains {'on' if enabled else 'off'}. {outcome.message if outcome else ''}"
    )
    return redirect("spam:settings")


@require_http_methods(["GET", "POST"])
@admin_only
def rules_edit(request: HttpRequest) -> HttpResponse:
    form = RulesForm(request.POST or None, initial={"text": services.rules_get()})
    problems: list[files.LintProblem] = []
    checked = False
    if request.method == "POST" and form.is_valid():
        text = form.cleaned_data["text"]
        try:
            if request.POST.get("action") == "validate":
                problems, checked = services.rules_lint(text=text), True
            else:
                _, outcome = services.rules_save(text=text, actor=Actor.from_request(request))
                messages.success(request, f"Rules saved. {outcome.message}" if outcome else "Nothing changed.")
                return redirect("spam:rules")
        except services.RulesInvalid as invalid:
            problems = invalid.problems
        except DockerUnavailable as error:
            messages.error(request, f"The rules could not be checked, so they were not saved: {error}")
    text = form.data.get("text", "") if form.is_bound else form.initial["text"]
    bad = {p.line for p in problems if p.line}
    gutter = [(n, n in bad) for n in range(1, max(text.count("\n") + 1, 1) + 1)]
    context = {"form": form, "problems": problems, "checked": checked, "gutter": gutter}
    return render(request, "spam/rules_edit.html", context, status=400 if problems else 200)


@require_GET
@admin_only
def schedule_list(request: HttpRequest) -> HttpResponse:
    schedules = list(TrainingSchedule.objects.all())
    runs = TrainingRun.objects.select_related("schedule", "job")[:20]
    return render(request, "spam/schedule_list.html", {"schedules": schedules, "runs": runs, "engine": _engine()})


@require_http_methods(["GET", "POST"])
@admin_only
def schedule_edit(request: HttpRequest, schedule_id: int | None = None) -> HttpResponse:
    schedule = get_object_or_404(TrainingSchedule, pk=schedule_id) if schedule_id else None
    form = ScheduleForm.for_schedule(schedule, request.POST or None)
    if request.method == "POST" and form.is_valid():
        actor = Actor.from_request(request)
        try:
            if schedule:
                services.schedule_update(schedule=schedule, actor=actor, **form.values())
            else:
                services.schedule_create(actor=actor, **form.values())
        except FieldError as error:
            add_service_error(form, error)
        else:
            messages.success(request, "Schedule saved.")
            return redirect("spam:schedule-list")
    return render(request, "spam/schedule_edit.html", {"form": form, "schedule": schedule})


@require_http_methods(["GET", "POST"])
@admin_only
def schedule_delete(request: HttpRequest, schedule_id: int) -> HttpResponse:
    schedule = get_object_or_404(TrainingSchedule, pk=schedule_id)
    if request.method == "POST":
        services.schedule_delete(schedule=schedule, actor=Actor.from_request(request))
        messages.success(request, "Schedule deleted; its runs stay in the history.")
        return redirect("spam:schedule-list")
    return render(request, "spam/schedule_delete.html", {"schedule": schedule})


@require_POST
@admin_only
def schedule_run(request: HttpRequest, schedule_id: int) -> HttpResponse:
    schedule = get_object_or_404(TrainingSchedule, pk=schedule_id)
    try:
        run = services.training_start(schedule=schedule, actor=Actor.from_request(request))
    except (JobConflict, DockerUnavailable) as error:
        messages.error(request, str(error))
        return redirect("spam:schedule-list")
    return redirect("job-detail", run_id=run.id)


@require_GET
@admin_only
def run_list(request: HttpRequest) -> HttpResponse:
    runs = TrainingRun.objects.select_related("schedule", "job")[:200]
    return render(request, "spam/run_list.html", {"runs": runs})


@require_GET
@admin_only
def bayes(request: HttpRequest) -> HttpResponse:
    engine, stats, error = _engine(), None, ""
    try:
        stats = services.bayes_stats(engine=engine) if engine else None
    except DockerUnavailable as exc:
        error = str(exc)
    points = [(r.ended_at or r.started_at, r.nspam_after or 0, r.nham_after or 0) for r in services.bayes_history()]
    plot = bayes_svg(points, files.MIN_SPAM)
    context = {
        "engine": engine,
        "stats": stats,
        "error": error,
        "plot": mark_safe(plot),  # noqa: S308 (escaped in plot.py)
        "sentence": services.needed_sentence(stats) if stats else "",
        "min_spam": files.MIN_SPAM,
        "min_ham": files.MIN_HAM,
    }
    return render(request, "spam/bayes.html", context)
