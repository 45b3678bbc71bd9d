"""REST endpoints of the history, apply, jobs and audit."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from access.api_auth import api_actor
from access.roles import domain_scoped, superadmin_required, visible_jobs
from dms_admin import changes, jobqueue
from dms_admin.activity import services as history
from dms_admin.api.errors import error_response
from dms_admin.api.pagination import Pagination
from dms_admin.api.serializers import (
    DRY_RUN,
    ROLLBACK_CONFLICT,
    AuditEntrySerializer,
    CommitSerializer,
    JobSerializer,
    RestoreFileResultSerializer,
    RollbackResultSerializer,
    change_payload,
    is_dry_run,
    job_accepted,
    paginated,
    rollback_conflict_response,
)
from dms_admin.audit import audit_csv, audit_filter
from dms_admin.configstore import get_store
from dms_admin.errors import FieldError
from dms_admin.models import AuditEntry, JobRun
from dms_admin.storeerrors import ConfigLockTimeout, ConfigStoreError, HistoryNotFound, RollbackConflict

HISTORY_FILTERS = [
    OpenApiParameter("author", str, description="Part of the author's name (token:NAME for API tokens), any case."),
    OpenApiParameter("file", str, description="Only changes to this file (or folder) of the config folder."),
    OpenApiParameter("action", str, description='How the message starts, any case: "Create alias", "Roll back".'),
    OpenApiParameter("search", str, description="Part of the message, any case (a literal, not a pattern)."),
    OpenApiParameter("after", str, description="At or after: a date (from the start of that day) or ISO 8601."),
    OpenApiParameter("before", str, description="Strictly before: a date or ISO 8601 date and time."),
]


@extend_schema(
    responses=paginated(CommitSerializer, "PaginatedCommitList"),
    operation_id="history_list",
    parameters=[OpenApiParameter("page", int), OpenApiParameter("page_size", int), *HISTORY_FILTERS],
)
@superadmin_required
@api_view(["GET"])
def history_list(request: Request) -> Response:
    store = get_store()
    history.history_current(limit=0)
    try:
        page = max(1, int(request.query_params.get("page", 1)))
        size = min(500, max(1, int(request.query_params.get("page_size", 50))))
    except ValueError:
        return error_response("page and page_size must be whole numbers.", 400)
    query = history.history_query(request.query_params.dict())  # FieldError: 400 with the field
    commits = store.history(limit=size, offset=(page - 1) * size, query=query)
    count = store.count(query)
    base = request.build_absolute_uri(request.path)
    kept = urlencode({k: v for k, v in request.query_params.items() if k in history.HISTORY_FILTERS and v})
    kept = f"&{kept}" if kept else ""
    return Response(
        {
            "count": count,
            "next": f"{base}?page={page + 1}&page_size={size}{kept}" if page * size < count else None,
            "previous": f"{base}?page={page - 1}&page_size={size}{kept}" if page > 1 else None,
            "results": CommitSerializer(commits, many=True).data,
        }
    )


@extend_schema(
    responses=inline_serializer("CommitDiff", {"commit": CommitSerializer(), "diff": serializers.CharField()})
)
@superadmin_required
@api_view(["GET"])
def history_detail(request: Request, sha: str) -> Response:
    store = get_store()
    try:
        commit = store.commit(sha)
    except ConfigStoreError as exc:
        return error_response(str(exc), status.HTTP_404_NOT_FOUND)
    return Response({"commit": CommitSerializer(commit).data, "diff": store.diff(commit.sha)})


@extend_schema(
    request=None,
    parameters=[DRY_RUN],
    responses={200: RollbackResultSerializer, 409: ROLLBACK_CONFLICT},
    description=(
        "Undoes only the lines this commit changed, in the files as they are now (a three-way revert, as "
        "`git revert`); later changes stay. The rollback is a new commit by the caller. If a later change "
        "touched the same lines nothing is written and the answer is 409 with `conflicts` (the lines now and "
        "as the commit left them) and one `fields` entry per file. The first commit, which adopted the folder, "
        "cannot be rolled back (400)."
    ),
)
@superadmin_required
@api_view(["POST"])
def history_rollback(request: Request, sha: str) -> Response:
    try:
        get_store().commit(sha)
    except ConfigStoreError as exc:
        return error_response(str(exc), status.HTTP_404_NOT_FOUND)
    try:
        result, outcome = history.history_rollback(sha=sha, actor=api_actor(request), dry_run=is_dry_run(request))
    except RollbackConflict as conflict:
        return rollback_conflict_response(conflict)
    return Response({"files": list(result.files), **change_payload(result, outcome)})


@extend_schema(
    request=inline_serializer("RestoreFile", {"path": serializers.CharField()}),
    parameters=[DRY_RUN],
    responses=RestoreFileResultSerializer,
    description=(
        "Puts one file back as it was right after this commit (`path` must be one of the commit's `files`; "
        "400 for a path outside the config folder, 404 for one the commit did not change). Unlike a rollback "
        "this undoes every later change to the file: `undone` lists them (newest first), also in a dry run."
    ),
)
@superadmin_required
@api_view(["POST"])
def history_restore_file(request: Request, sha: str) -> Response:
    path = request.data.get("path") if isinstance(request.data, dict) else None
    if not isinstance(path, str) or not path:
        raise FieldError("path", 'Send {"path": "<a file of that commit>"}.')
    try:
        restore = history.history_restore_file(
            sha=sha, path=path, actor=api_actor(request), dry_run=is_dry_run(request)
        )
    except HistoryNotFound as exc:
        return error_response(str(exc), status.HTTP_404_NOT_FOUND)
    except ConfigLockTimeout:
        raise  # 503, as for every write
    except ConfigStoreError as exc:
        raise FieldError("path", str(exc)) from None
    return Response(
        {
            "path": path,
            "files": list(restore.result.files),
            "undone": CommitSerializer(restore.undone, many=True).data,
            **change_payload(restore.result, restore.outcome),
        }
    )


@extend_schema(
    methods=["GET"],
    responses=inline_serializer("Pending", {"needs": serializers.CharField(), "changes": serializers.ListField()}),
)
@extend_schema(methods=["POST"], request=None, responses={202: JobSerializer})
@superadmin_required
@api_view(["GET", "POST"])
def apply(request: Request) -> Response:
    if request.method == "POST":
        run = changes.apply_start(actor=api_actor(request))
        return job_accepted(run)
    summary = changes.pending_summary()
    pending = [
        {"path": c.path, "action": c.action, "commit": c.commit, "created_at": c.created_at, "created_by": c.created_by}
        for c in summary["changes"]  # type: ignore[attr-defined]
    ]
    return Response({"needs": summary["needs"], "changes": pending})


@domain_scoped
@extend_schema(responses=paginated(JobSerializer, "PaginatedJobList"), operation_id="jobs_list")
@api_view(["GET"])
def job_list(request: Request) -> Response:
    runs = visible_jobs(request.user)
    if kind := request.query_params.get("kind"):
        runs = runs.filter(kind=kind)
    if state := request.query_params.get("status"):
        runs = runs.filter(status=state)
    from dms_admin.api.pagination import Pagination

    paginator = Pagination()
    page: list[JobRun] | None = paginator.paginate_queryset(runs, request)
    return paginator.get_paginated_response(JobSerializer(page, many=True).data)


@domain_scoped
@extend_schema(responses=JobSerializer)
@api_view(["GET"])
def job_detail(request: Request, run_id: str) -> Response:
    return Response(JobSerializer(get_object_or_404(visible_jobs(request.user), pk=run_id)).data)


@domain_scoped
@extend_schema(request=None, responses=JobSerializer)
@api_view(["POST"])
def job_cancel(request: Request, run_id: str) -> Response:
    run = get_object_or_404(visible_jobs(request.user), pk=run_id)
    if run.status != JobRun.Status.QUEUED:
        return error_response(
            f"Only a queued job can be cancelled; this one is {run.status}.", status.HTTP_409_CONFLICT
        )
    jobqueue.job_cancel(run=run, actor=api_actor(request))
    run.refresh_from_db()
    return Response(JobSerializer(run).data)


@domain_scoped
@extend_schema(request=None, responses=JobSerializer)
@api_view(["POST"])
def job_stop(request: Request, run_id: str) -> Response:
    """Ask a running job to stop at its next safe point (409 if it is not running or cannot stop)."""
    run = get_object_or_404(visible_jobs(request.user), pk=run_id)
    try:
        jobqueue.job_stop(run=run, actor=api_actor(request))
    except jobqueue.JobConflict as error:
        return error_response(str(error), status.HTTP_409_CONFLICT)
    run.refresh_from_db()
    return Response(JobSerializer(run).data)


@extend_schema(
    parameters=[
        OpenApiParameter("actor", str),
        OpenApiParameter("action", str),
        OpenApiParameter("since", str),
        OpenApiParameter("format", str, description="csv for a CSV download"),
    ],
    responses={
        (200, "application/json"): paginated(AuditEntrySerializer, "PaginatedAuditList"),
        (200, "text/csv"): str,
    },
)
@superadmin_required
@api_view(["GET"])
def audit(request: Request) -> Response | StreamingHttpResponse:
    entries = audit_filter(
        AuditEntry.objects.all(),
        actor=request.query_params.get("actor", ""),
        action=request.query_params.get("action", ""),
        object=request.query_params.get("object", ""),
        since=request.query_params.get("since", ""),
    )
    if request.query_params.get("format") == "csv":
        return audit_csv(entries)
    paginator = Pagination()
    page = paginator.paginate_queryset(entries, request) or []
    fields = ("at", "actor", "via", "ip", "action", "object", "commit")
    return paginator.get_paginated_response([{f: getattr(e, f) for f in fields} for e in page])
