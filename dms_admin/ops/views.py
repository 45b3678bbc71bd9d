"""Panel pages for running the mail container: health, logs, fail2ban, updates."""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from access.roles import domain_scoped, scope_of, superadmin_required
from dms_admin import changes, feedback
from dms_admin.activity import services as history
from dms_admin.audit import Actor
from dms_admin.dms import DockerUnavailable
from dms_admin.errors import Conflict, FieldError
from dms_admin.jobqueue import JobConflict
from dms_admin.models import JobRun
from dms_admin.ops import fail2ban, health, logs, logscan, overview, updates

SINCE_CHOICES = [
    ("15m", "15 minutes"),
    ("1h", "1 hour"),
    ("6h", "6 hours"),
    ("24h", "24 hours"),
    ("7d", "7 days"),
    ("", "all (tail only)"),
]


class LogFilterForm(forms.Form):
    since = forms.CharField(required=False, initial="1h")
    service = forms.ChoiceField(required=False, choices=[("", "all services")] + [(s, s) for s in logscan.SERVICES])
    search = forms.CharField(required=False, max_length=200)
    tail = forms.IntegerField(required=False, min_value=1, max_value=logs.MAX_TAIL, initial=logs.DEFAULT_TAIL)


class IpForm(forms.Form):
    ip = forms.CharField(label="IP address", max_length=64)


@superadmin_required
@require_GET
def health_view(request: HttpRequest) -> HttpResponse:
    return render(request, "dms_admin/health.html", {"report": health.health_report()})


@superadmin_required
@require_GET
def logs_view(request: HttpRequest) -> HttpResponse:
    params = request.GET if request.GET else {"since": "1h"}
    form = LogFilterForm(params)
    view, error, container_error = None, "", ""
    if form.is_valid():
        data = form.cleaned_data
        try:
            since = logs.logs_since(data["since"])
            view = logs.logs_read(
                since=since, service=data["service"], search=data["search"], tail=data["tail"] or logs.DEFAULT_TAIL
            )
        except FieldError as exc:
            error = exc.message
        except DockerUnavailable as exc:
            container_error = str(exc)
    asked = str(form.data.get("since", ""))
    choices = SINCE_CHOICES if asked in dict(SINCE_CHOICES) else [(asked, asked), *SINCE_CHOICES]
    context = {
        "form": form,
        "view": view,
        "error": error,
        "container_error": container_error,
        "since_choices": choices,
        "services": logscan.SERVICES,
    }
    return render(request, "dms_admin/logs.html", context)


@superadmin_required
@require_GET
def fail2ban_list(request: HttpRequest) -> HttpResponse:
    jails, error, container_error = None, "", ""
    try:
        jails = fail2ban.fail2ban_jails()
    except fail2ban.Fail2banError as exc:
        error = str(exc)
    except DockerUnavailable as exc:
        container_error = str(exc)
    context = {"jails": jails, "error": error, "container_error": container_error, "form": IpForm()}
    return render(request, "dms_admin/fail2ban_list.html", context)


@superadmin_required
@require_http_methods(["GET", "POST"])
def fail2ban_ban(request: HttpRequest) -> HttpResponse:
    return _fail2ban_act(request, "ban", fail2ban.fail2ban_ban, IpForm(request.POST or None, initial=request.GET))


@superadmin_required
@require_http_methods(["GET", "POST"])
def fail2ban_unban(request: HttpRequest, ip: str) -> HttpResponse:
    return _fail2ban_act(request, "unban", fail2ban.fail2ban_unban, IpForm(request.POST or None, initial={"ip": ip}))


def _fail2ban_act(request: HttpRequest, action: str, act: Callable[..., str], form: IpForm) -> HttpResponse:
    """GET: the confirmation; POST: ban or unban, then back to the list."""
    if request.method == "POST" and form.is_valid():
        try:
            messages.success(request, act(ip=form.cleaned_data["ip"], actor=Actor.from_request(request)))
            return redirect("fail2ban-list")
        except FieldError as exc:
            form.add_error("ip", exc.message)
        except (Conflict, fail2ban.Fail2banError) as exc:
            messages.error(request, getattr(exc, "message", str(exc)))
            return redirect("fail2ban-list")
        except DockerUnavailable as exc:
            feedback.failure(request, "Not done:", exc)
            return redirect("fail2ban-list")
    return render(request, "dms_admin/fail2ban_confirm.html", {"form": form, "action": action})


@superadmin_required
@require_GET
def updates_view(request: HttpRequest) -> HttpResponse:
    info, container_error = None, ""
    try:
        info = updates.update_check(registry=request.GET.get("check") == "1")
    except DockerUnavailable as exc:
        container_error = str(exc)
    return render(request, "dms_admin/updates.html", {"info": info, "container_error": container_error})


@superadmin_required
@require_http_methods(["GET", "POST"])
def update_start(request: HttpRequest) -> HttpResponse:
    image = request.POST.get("image") or request.GET.get("image") or ""
    if request.method == "GET":
        return render(request, "dms_admin/updates_confirm.html", {"image": image})
    try:
        run = updates.update_start(image=image, actor=Actor.from_request(request))
    except (FieldError, JobConflict) as exc:
        messages.error(request, getattr(exc, "message", str(exc)))
        return redirect("updates")
    except DockerUnavailable as exc:
        feedback.failure(request, "The update did not start:", exc)
        return redirect("updates")
    return redirect("job-detail", run_id=run.id)


@domain_scoped
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    if scope is not None and not scope.superadmin:
        return redirect("accounts:mailbox-list")  # a domain admin's work starts with their mailboxes
    context = {
        "overview": overview.server_overview(),
        "pending": changes.pending_summary(),
        "history": history.history_current(limit=6),
        "jobs": JobRun.objects.exclude(kind="confirm")[:5],
        "needs_first_mailbox": overview.needs_first_mailbox(),
    }
    return render(request, "dms_admin/home.html", context)
