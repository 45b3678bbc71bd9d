"""Spam panel pages: thin, authorize, validate, call one service, respond."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access.roles import superadmin_required
from dms_admin.audit import Actor
from dms_admin.dms import DockerUnavailable
from dms_admin.errors import FieldError, add_service_error
from dms_admin.feedback import change_message, failure
from dms_admin.jobqueue import JobConflict
from dms_admin.mailserver_env.forms import settings_changes
from spam import files, services
from spam.forms import RulesForm, ScheduleForm
from spam.models import TrainingRun, TrainingSchedule
from spam.plot import bayes_svg


def _engine() -> str | None:
    try:
        return services.engine_active()
    except DockerUnavailable:
        return None


@require_http_methods(["GET", "POST"])
@superadmin_required
def spam_settings(request: HttpRequest) -> HttpResponse:
    rows, problems = services.spam_settings_read()
    errors: dict[str, str] = {}
    if request.method == "POST":
        _, errors = settings_changes(request.POST, rows)  # every bad field at once, before anything is written
        try:
            if not errors:
                updates, outcome = services.spam_settings_update(
                    posted=request.POST.dict(), actor=Actor.from_request(request)
                )
        except FieldError as error:
            errors[error.field] = error.message
        if not errors:
            if outcome:
                change_message(request, f"Saved {', '.join(sorted(updates))}.", outcome)
            else:
                messages.info(request, "Nothing changed.")
            return redirect("spam:settings")
    context = {
        "rows": rows,
        "problems": problems,
        "subdomains": services.subdomains_get(),
        "engine": _engine(),
        "errors": errors,
        "posted": request.POST,
    }
    return render(request, "spam/settings_edit.html", context, status=400 if errors else 200)


@require_POST
@superadmin_required
def subdomains(request: HttpRequest) -> HttpResponse:
    enabled = request.POST.get("enabled") == "1"
    _, outcome = services.subdomains_set(enabled=enabled, actor=Actor.from_request(request))
    change_message(request, f"Spam headers for subdomains {'on' if enabled else 'off'}.", outcome)
    return redirect("spam:settings")


@require_http_methods(["GET", "POST"])
@superadmin_required
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
                if outcome:
                    change_message(request, "Rules saved.", outcome)
                else:
                    messages.info(request, "Nothing changed.")
                return redirect("spam:rules")
        except services.RulesInvalid as invalid:
            problems = invalid.problems
        except DockerUnavailable as error:
            failure(request, "The rules could not be checked, so they were not saved:", error)
    text = form.data.get("text", "") if form.is_bound else form.initial["text"]
    bad = {p.line for p in problems if p.line}
    gutter = [(n, n in bad) for n in range(1, max(text.count("\n") + 1, 1) + 1)]
    denied = any(p.denied for p in problems)  # our own refusal: SpamAssassin was not asked
    context = {"form": form, "problems": problems, "checked": checked, "gutter": gutter, "denied": denied}
    return render(request, "spam/rules_edit.html", context, status=400 if problems else 200)


@require_GET
@superadmin_required
def schedule_list(request: HttpRequest) -> HttpResponse:
    schedules = list(TrainingSchedule.objects.all())
    runs = TrainingRun.objects.select_related("schedule", "job")[:20]
    return render(request, "spam/schedule_list.html", {"schedules": schedules, "runs": runs, "engine": _engine()})


@require_http_methods(["GET", "POST"])
@superadmin_required
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
@superadmin_required
def schedule_delete(request: HttpRequest, schedule_id: int) -> HttpResponse:
    schedule = get_object_or_404(TrainingSchedule, pk=schedule_id)
    if request.method == "POST":
        services.schedule_delete(schedule=schedule, actor=Actor.from_request(request))
        messages.success(request, "Schedule deleted; its runs stay in the history.")
        return redirect("spam:schedule-list")
    return render(request, "spam/schedule_delete.html", {"schedule": schedule})


@require_POST
@superadmin_required
def schedule_run(request: HttpRequest, schedule_id: int) -> HttpResponse:
    schedule = get_object_or_404(TrainingSchedule, pk=schedule_id)
    try:
        run = services.training_start(schedule=schedule, actor=Actor.from_request(request))
    except services.TrainingNotStarted as error:  # recorded as a failed run: its page says why
        return redirect("job-detail", run_id=error.run.id)
    except JobConflict as error:
        messages.error(request, str(error))
    except DockerUnavailable as error:
        failure(request, "Not started:", error)
        return redirect("spam:schedule-list")
    return redirect("job-detail", run_id=run.id)


@require_GET
@superadmin_required
def run_list(request: HttpRequest) -> HttpResponse:
    runs = TrainingRun.objects.select_related("schedule", "job")[:200]
    return render(request, "spam/run_list.html", {"runs": runs})


@require_GET
@superadmin_required
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
