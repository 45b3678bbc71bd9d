"""Backup panel pages: thin, authorize, validate, call one service, respond."""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access.roles import superadmin_required
from backups import services
from backups.archive import ArchiveError
from backups.forms import IdentityForm, PolicyForm, RestoreForm
from backups.models import BackupArchive, BackupPolicy
from backups.plot import sizes_svg
from dms_admin.audit import Actor
from dms_admin.errors import Conflict, FieldError, add_service_error
from dms_admin.models import JobRun


def _refused(request: HttpRequest, error: Exception) -> None:
    messages.error(request, getattr(error, "message", None) or str(error))


@require_GET
@superadmin_required
def policy_list(request: HttpRequest) -> HttpResponse:
    policies = list(BackupPolicy.objects.all())
    for p in policies:  # a policy saved before BACKUP_ROOTS (or a symlink changed since): its runs fail
        p.destination_refused = services.destination_problem(p.destination)  # type: ignore[attr-defined]
    points = BackupArchive.objects.filter(safety=False).order_by("-created_at")[:60]
    plot = sizes_svg([(a.created_at, a.size, a.duration) for a in reversed(points)])
    runs = JobRun.objects.filter(kind__in=(*services.POLICY_KINDS, "verify"))[:20]
    age = services.last_backup_age()
    return render(
        request,
        "backups/policy_list.html",
        {
            "policies": policies,
            "plot": mark_safe(plot),  # noqa: S308 (escaped in plot.py)
            "runs": runs,
            "age_hours": None if age is None else age / 3600,
            "readers": services.archive_readers(),
            "any_plain": any(not p.age_recipient for p in policies),
        },
    )


@require_http_methods(["GET", "POST"])
@superadmin_required
def policy_edit(request: HttpRequest, policy_id: int | None = None) -> HttpResponse:
    policy = get_object_or_404(BackupPolicy, pk=policy_id) if policy_id else None
    form = PolicyForm(request.POST or None, instance=policy)
    if request.method == "POST" and form.is_valid():
        actor = Actor.from_request(request)
        try:
            if policy is None:
                services.policy_create(actor=actor, **form.values())
            else:
                services.policy_update(policy=BackupPolicy.objects.get(pk=policy.pk), actor=actor, **form.values())
        except (FieldError, Conflict) as error:
            if error.field == "include":
                form.add_error("include_mail", error.message)
            else:
                add_service_error(form, error)  # type: ignore[arg-type]
        else:
            messages.success(request, "Backup policy saved.")
            return redirect("backups:policy-list")
    return render(
        request, "backups/policy_edit.html", {"form": form, "policy": policy, "readers": services.archive_readers()}
    )


@require_POST
@superadmin_required
def policy_run(request: HttpRequest, policy_id: int) -> HttpResponse:
    policy = get_object_or_404(BackupPolicy, pk=policy_id)
    try:
        run = services.backup_start(policy=policy, actor=Actor.from_request(request))
    except (FieldError, Conflict, ArchiveError) as error:
        _refused(request, error)
        return redirect("backups:policy-list")
    return redirect("job-detail", run_id=run.id)


@require_GET
@superadmin_required
def archive_list(request: HttpRequest) -> HttpResponse:
    archives = BackupArchive.objects.select_related("policy")[:200]
    return render(request, "backups/archive_list.html", {"archives": archives})


@sensitive_variables("key")
@sensitive_post_parameters("identity")
@require_http_methods(["GET", "POST"])
@superadmin_required
def archive_verify(request: HttpRequest, archive_id: int) -> HttpResponse:
    """GET: the confirmation (with the key field for an encrypted archive); POST: queue the verify."""
    archive = get_object_or_404(BackupArchive, pk=archive_id)
    form = IdentityForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        key = form.cleaned_data["identity"]
        try:
            run = services.verify_start(archive=archive, actor=Actor.from_request(request), identity=key)
        except FieldError as error:
            add_service_error(form, error)
        except (Conflict, services.QueueUnavailable) as error:
            _refused(request, error)
            return redirect("backups:archive-list")
        else:
            return redirect("job-detail", run_id=run.id)
    return render(request, "backups/archive_verify.html", {"archive": archive, "form": form})


@sensitive_variables("key")
@sensitive_post_parameters("identity")
@require_http_methods(["GET", "POST"])
@superadmin_required
def archive_restore(request: HttpRequest, archive_id: int) -> HttpResponse:
    archive = get_object_or_404(BackupArchive, pk=archive_id)
    form = RestoreForm(request.POST or request.GET or None)  # the key comes by POST only, never in the URL
    key_form = IdentityForm(request.POST if request.method == "POST" else None)
    preview = None
    if form.is_bound and form.is_valid():
        scope, mailbox = form.cleaned_data["scope"], form.cleaned_data["mailbox"]
        if request.method == "POST" and key_form.is_valid():
            key, actor = key_form.cleaned_data["identity"], Actor.from_request(request)
            try:
                run = services.restore_start(
                    archive=archive, scope=scope, mailbox=mailbox, dry_run=False, actor=actor, identity=key
                )
                return redirect("job-detail", run_id=run.id)
            except (FieldError, Conflict) as error:
                add_service_error(key_form if error.field == "identity" else form, error)
            except services.QueueUnavailable as error:
                _refused(request, error)
        try:
            preview = services.restore_preview(archive=archive, scope=scope, mailbox=mailbox).as_dict()
        except (FieldError, Conflict) as error:
            add_service_error(form, error)
    context = {"archive": archive, "form": form, "key_form": key_form, "preview": preview}
    return render(request, "backups/archive_restore.html", context)


@require_GET
@superadmin_required
def archive_download(request: HttpRequest, archive_id: int) -> HttpResponse | FileResponse:
    archive = get_object_or_404(BackupArchive, pk=archive_id)
    try:
        path = services.archive_download(archive=archive, actor=Actor.from_request(request))
    except FieldError as error:
        raise Http404(error.message) from error
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)
