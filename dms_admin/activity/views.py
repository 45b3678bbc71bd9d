"""The history, audit and apply pages."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from access.roles import superadmin_required
from dms_admin import changes, feedback
from dms_admin.activity import services as history
from dms_admin.audit import Actor, audit_csv, audit_filter
from dms_admin.configstore import get_store
from dms_admin.dms import DockerUnavailable
from dms_admin.errors import FieldError
from dms_admin.historyrepo import HistoryQuery
from dms_admin.jobqueue import JobConflict
from dms_admin.models import AuditEntry
from dms_admin.storeerrors import ConfigStoreError, HistoryNotFound, RollbackConflict

HISTORY_PAGE_SIZE = 30


@superadmin_required
@require_GET
def history_list(request: HttpRequest) -> HttpResponse:
    store = get_store()
    history.history_current(limit=0)
    try:
        query = history.history_query(request.GET.dict())
    except FieldError as error:
        messages.error(request, error.message)
        query = HistoryQuery()
    page = Paginator(_CountedHistory(store, query), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))  # type: ignore[arg-type,var-annotated]
    filters = {name: request.GET.get(name, "") for name in history.HISTORY_FILTERS}
    context = {
        "page": page,
        "filters": filters,
        "filtered": any(filters.values()),
        "filter_query": urlencode({k: v for k, v in filters.items() if v}),
        "known_files": sorted(store.tracked_files()),
        "actions": HISTORY_ACTIONS,
    }
    return render(request, "dms_admin/history_list.html", context)


# Suggestions for the action filter: how the dashboard's messages start.
HISTORY_ACTIONS = (
    "Create",
    "Change",
    "Delete",
    "Roll back",
    "Restore",
    "External change",
    "Adopted",
    "Relay",
    "Restrict",
    "Lift",
    "Spam",
    "Fix deprecated",
    "Revert",
)


class _CountedHistory:
    """Lets Django's Paginator page through git history without loading all of it."""

    def __init__(self, store, query):  # type: ignore[no-untyped-def]
        self.store, self.query = store, query

    def count(self) -> int:
        return self.store.count(self.query)

    def __getitem__(self, item: slice):  # type: ignore[no-untyped-def]
        return self.store.history(limit=item.stop - item.start, offset=item.start, query=self.query)


@superadmin_required
@require_GET
def history_detail(request: HttpRequest, sha: str) -> HttpResponse:
    store = get_store()
    try:
        commit, diff = store.commit(sha), store.diff(sha)
    except ConfigStoreError as exc:
        raise Http404(str(exc)) from exc
    return render(request, "dms_admin/history_detail.html", {"commit": commit, "diff": diff})


@superadmin_required
@require_http_methods(["GET", "POST"])
def history_rollback(request: HttpRequest, sha: str) -> HttpResponse:
    actor = Actor.from_request(request)
    try:
        commit = get_store().commit(sha)
    except HistoryNotFound as exc:
        raise Http404(str(exc)) from exc
    context: dict[str, object] = {"commit": commit}
    posted = request.method == "POST"
    try:
        if not posted:
            context["preview"], _ = history.history_rollback(sha=sha, actor=actor, dry_run=True)
            return render(request, "dms_admin/history_rollback.html", context)
        result, outcome = history.history_rollback(sha=sha, actor=actor)
    except RollbackConflict as conflict:
        context["conflicts"] = conflict.conflicts
        return render(request, "dms_admin/history_rollback.html", context, status=409 if posted else 200)
    except ConfigStoreError as exc:
        context["refused"] = str(exc)
        return render(request, "dms_admin/history_rollback.html", context, status=400 if posted else 200)
    if not result.changed:
        messages.info(request, "Nothing to roll back: the lines of that change are already as they were before it.")
    else:
        feedback.change_message(request, f"Rolled back {commit.short}.", outcome)
    return redirect("history-list")


@superadmin_required
@require_http_methods(["GET", "POST"])
def history_restore_file(request: HttpRequest, sha: str) -> HttpResponse:
    path = (request.POST if request.method == "POST" else request.GET).get("path", "")
    try:
        restore = history.history_restore_file(
            sha=sha, path=path, actor=Actor.from_request(request), dry_run=request.method == "GET"
        )
    except HistoryNotFound as exc:
        raise Http404(str(exc)) from exc
    except ConfigStoreError as exc:
        return render(request, "dms_admin/history_restore.html", {"refused": str(exc), "sha": sha}, status=400)
    if request.method == "GET":
        context = {"commit": get_store().commit(sha), "path": path, "restore": restore}
        return render(request, "dms_admin/history_restore.html", context)
    if not restore.result.changed:
        messages.info(request, f"Nothing to restore: {path} is already as it was then.")
    else:
        feedback.change_message(request, f"Restored {path} as of {sha[:10]}.", restore.outcome)
    return redirect("history-list")


@superadmin_required
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


@superadmin_required
@require_http_methods(["GET", "POST"])
def apply_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            run = changes.apply_start(actor=Actor.from_request(request))
        except JobConflict as exc:
            messages.error(request, f"Not applied: {exc}")
            return redirect("apply")
        except DockerUnavailable as exc:
            feedback.failure(request, "Not applied:", exc)
            return redirect("apply")
        return redirect("job-detail", run_id=run.id)
    return render(request, "dms_admin/apply.html", {"pending": changes.pending_summary()})
