from __future__ import annotations

from datetime import datetime

from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.decorators import login_not_required
from django.core.paginator import Paginator
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dms_admin import services
from dms_admin.audit import Actor, audit_csv, audit_filter, audit_record, client_ip
from dms_admin.configstore import ConfigStoreError, get_store
from dms_admin.dms import DockerUnavailable, get_mailserver
from dms_admin.errors import FieldError
from dms_admin.forms import LoginForm
from dms_admin.jobqueue import JobConflict
from dms_admin.models import AuditEntry, JobRun
from dms_admin.roles import scope_of, visible_jobs
from dms_admin.throttle import login_failed, login_lock, login_succeeded
from dms_admin.two_factor import second_step_needed
from dms_admin.views_2fa import pending_login_start, safe_next
from dms_admin.views_setup import admin_exists

HISTORY_PAGE_SIZE = 30


def last_backup_at() -> datetime | None:
    from backups.models import BackupArchive

    newest = BackupArchive.objects.filter(safety=False).order_by("-created_at").first()
    return newest.created_at if newest else None


@login_not_required
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.method == "GET" and not admin_exists():
        return redirect("first-run")
    form = LoginForm(request.POST or None)
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if request.method == "POST" and form.is_valid():
        username, ip = form.cleaned_data["username"], client_ip(request)
        if lock := login_lock(username=username, ip=ip):
            form.add_error(None, lock.message)
        else:
            user = authenticate(request, username=username, password=form.cleaned_data["password"])
            if user is None:
                login_failed(username=username, ip=ip)
                form.add_error(None, "Wrong username or password.")
            else:
                login_succeeded(username=username, ip=ip)
                if second_step_needed(user=user):
                    pending_login_start(request, user, next_url)
                    return redirect("login-2fa")
                login(request, user)
                audit_record(actor=Actor.from_request(request), action="login")
                return redirect(safe_next(request, next_url))
    return render(request, "dms_admin/login.html", {"form": form, "next": next_url})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.POST.get("everywhere") == "1":
        ended = sessions_end(user_id=request.user.pk)
        audit_record(actor=Actor.from_request(request), action="logout.everywhere", detail=f"{ended} session(s) ended")
    logout(request)
    return redirect("login")


def sessions_end(*, user_id: int | None) -> int:
    """End every session of a user (other browsers, stolen cookies); returns how many."""
    from django.contrib.sessions.models import Session

    mine = [s.pk for s in Session.objects.iterator() if s.get_decoded().get("_auth_user_id") == str(user_id)]
    Session.objects.filter(pk__in=mine).delete()
    return len(mine)


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """For the compose healthcheck: the process serves and its database answers."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return JsonResponse({"status": "error", "database": str(exc)}, status=503)
    return JsonResponse({"status": "ok"})


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    if scope is not None and not scope.superadmin:
        return redirect("accounts:mailbox-list")  # a domain admin's work starts with their mailboxes
    container, container_error, memory = None, "", None
    mailserver = get_mailserver()
    try:
        container = mailserver.status()
        if container.running:
            memory = mailserver.memory()
    except DockerUnavailable as exc:
        container_error = str(exc)
    context = {
        "container": container,
        "container_error": container_error,
        "memory": memory,
        "pending": services.pending_summary(),
        "history": services.history_current(limit=8),
        "jobs": JobRun.objects.all()[:5],
        "needs_first_mailbox": services.needs_first_mailbox(),
        "last_backup": last_backup_at(),
    }
    return render(request, "dms_admin/home.html", context)


@require_GET
def history_list(request: HttpRequest) -> HttpResponse:
    store = get_store()
    services.history_current(limit=0)
    page = Paginator(_CountedHistory(store), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))  # type: ignore[arg-type,var-annotated]
    return render(request, "dms_admin/history_list.html", {"page": page})


class _CountedHistory:
    """Lets Django's Paginator page through git history without loading all of it."""

    def __init__(self, store):  # type: ignore[no-untyped-def]
        self.store = store

    def count(self) -> int:
        return self.store.count()

    def __getitem__(self, item: slice):  # type: ignore[no-untyped-def]
        return self.store.history(limit=item.stop - item.start, offset=item.start)


@require_GET
def history_detail(request: HttpRequest, sha: str) -> HttpResponse:
    store = get_store()
    try:
        commit, diff = store.commit(sha), store.diff(sha)
    except ConfigStoreError as exc:
        raise Http404(str(exc)) from exc
    return render(request, "dms_admin/history_detail.html", {"commit": commit, "diff": diff})


@require_http_methods(["GET", "POST"])
def history_rollback(request: HttpRequest, sha: str) -> HttpResponse:
    actor = Actor.from_request(request)
    try:
        commit = get_store().commit(sha)
        if request.method == "GET":
            preview, _ = services.history_rollback(sha=sha, actor=actor, dry_run=True)
            return render(request, "dms_admin/history_rollback.html", {"commit": commit, "preview": preview})
        result, outcome = services.history_rollback(sha=sha, actor=actor)
    except ConfigStoreError as exc:
        messages.error(request, str(exc))
        return redirect("history-list")
    if not result.changed:
        messages.info(request, "Nothing to roll back: the files are already as they were before that change.")
    elif outcome:
        messages.success(request, f"Rolled back {commit.short}. {outcome.message}")
    return redirect("history-list")


@require_GET
def audit_list(request: HttpRequest) -> HttpResponseBase:
    filters = {k: request.GET.get(k, "") for k in ("actor", "action", "object", "since")}
    try:
        entries = audit_filter(AuditEntry.objects.all(), **filters)
    except FieldError as error:
        messages.error(request, error.message)
        filters["since"] = ""
        entries = audit_filter(AuditEntry.objects.all(), **filters)
    if request.GET.get("format") == "csv":
        return audit_csv(entries)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    return render(request, "dms_admin/audit_list.html", {"page": page, **filters})


@require_http_methods(["GET", "POST"])
def apply_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            run = services.apply_start(actor=Actor.from_request(request))
        except (JobConflict, DockerUnavailable) as exc:
            messages.error(request, f"Not applied: {exc}")
            return redirect("apply")
        return redirect("job-detail", run_id=run.id)
    return render(request, "dms_admin/apply.html", {"pending": services.pending_summary()})


@require_GET
def job_detail(request: HttpRequest, run_id: str) -> HttpResponse:
    run = get_object_or_404(visible_jobs(request.user), pk=run_id)
    template = "dms_admin/_job_progress.html" if request.headers.get("HX-Request") else "dms_admin/job_detail.html"
    return render(request, template, {"run": run})
