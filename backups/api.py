"""REST endpoints for backups: policies, runs, archives, verify, restore, download."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from access.api_auth import api_actor, may_write
from access.roles import superadmin_required
from backups import services
from backups.models import BackupArchive, BackupPolicy
from dms_admin.api.errors import error_response
from dms_admin.api.pagination import Pagination
from dms_admin.api.serializers import JobSerializer, job_accepted, paginated
from dms_admin.models import JobRun

INCLUDE_CHOICES = ["mail", "state", "config"]


class PolicySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=60)
    include = serializers.ListField(child=serializers.ChoiceField(choices=INCLUDE_CHOICES), min_length=1)
    destination = serializers.CharField(max_length=500)
    cron = serializers.CharField(max_length=100, default="30 3 * * *")
    timezone = serializers.CharField(max_length=64, default="UTC")
    compression = serializers.ChoiceField(choices=BackupPolicy.Compression.values, default="gzip")
    incremental = serializers.BooleanField(default=False)
    age_recipient = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        default="",
        help_text="An age public key (age1…, from `age-keygen`): archives are encrypted to it (.tar.gz.age). "
        "Empty: not encrypted, and the archives hold the server's secrets (relay passwords, DKIM keys) in clear, "
        "readable by dms-admin's Unix user.",
    )
    keep_last = serializers.IntegerField(min_value=0, default=7)
    keep_daily = serializers.IntegerField(min_value=0, default=7)
    keep_weekly = serializers.IntegerField(min_value=0, default=4)
    keep_monthly = serializers.IntegerField(min_value=0, default=3)
    max_age_days = serializers.IntegerField(min_value=0, default=30)
    enabled = serializers.BooleanField(default=True)


class ArchiveSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    policy = serializers.CharField(source="policy.name")
    created_at = serializers.DateTimeField()
    size = serializers.IntegerField()
    kind = serializers.CharField()
    verified_at = serializers.DateTimeField(allow_null=True)
    parent = serializers.IntegerField(source="parent_id", allow_null=True)  # type: ignore[assignment]  # a field named like Field.parent
    safety = serializers.BooleanField(help_text="Taken automatically before a restore.")
    file_count = serializers.IntegerField()
    source_bytes = serializers.IntegerField()
    duration = serializers.FloatField(help_text="Seconds")
    sha256 = serializers.CharField(help_text="Of the file on disk (for an encrypted archive, of the encrypted file).")
    encrypted = serializers.BooleanField(help_text="Encrypted with age: verify and restore need its secret key.")
    age_recipient = serializers.CharField(help_text="The age public key it is encrypted to; empty if not encrypted.")
    name = serializers.SerializerMethodField()

    def get_fields(self) -> dict[str, serializers.Field]:
        # Not a class attribute: "parent" would hide Field.parent (DRF's metaclass pops it, the types do not).
        fields = list(super().get_fields().items())
        after = [name for name, _ in fields].index("verified_at") + 1  # where it always was in the answer
        fields.insert(after, ("parent", serializers.IntegerField(source="parent_id", allow_null=True)))
        return dict(fields)

    def get_name(self, obj: BackupArchive) -> str:
        return obj.path.rsplit("/", 1)[-1]


IDENTITY_HELP = (
    "For an encrypted archive: its age secret key (the AGE-SECRET-KEY-1… line of the key file). Used for this "
    "job only, never stored or shown; a wrong key is refused with 400."
)


class VerifySerializer(serializers.Serializer):
    identity = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        default="",
        max_length=4000,
        trim_whitespace=False,
        help_text=IDENTITY_HELP,
    )


class RestoreSerializer(VerifySerializer):
    scope = serializers.ChoiceField(choices=services.SCOPES)
    mailbox = serializers.CharField(max_length=320, required=False, allow_blank=True, default="")
    dry_run = serializers.BooleanField(required=False, default=False)


def _policy_data(policy: BackupPolicy) -> dict[str, Any]:
    data = {f: getattr(policy, f) for f in services.POLICY_FIELDS if not f.startswith("include_")}
    return {"id": policy.pk, "include": policy.include, **data}


def _policy_values(data: dict[str, Any]) -> dict[str, Any]:
    values = {k: v for k, v in data.items() if k != "include"}
    values.update({f"include_{n}": n in data["include"] for n in INCLUDE_CHOICES})
    return values


@extend_schema(
    methods=["GET"],
    responses=paginated(PolicySerializer, "PaginatedBackupPolicyList"),
    operation_id="backups_policies_list",
)
@extend_schema(methods=["POST"], request=PolicySerializer, responses={201: PolicySerializer})
@superadmin_required
@api_view(["GET", "POST"])
def policy_list(request: Request) -> Response:
    if request.method == "GET":
        paginator = Pagination()
        page = paginator.paginate_queryset(BackupPolicy.objects.all(), request)  # type: ignore[arg-type]
        return paginator.get_paginated_response([_policy_data(p) for p in page or []])
    serializer = PolicySerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    policy = services.policy_create(actor=api_actor(request), **_policy_values(serializer.validated_data))
    return Response(_policy_data(policy), status=status.HTTP_201_CREATED)


@extend_schema(methods=["GET"], responses=PolicySerializer)
@extend_schema(methods=["PUT"], request=PolicySerializer, responses=PolicySerializer)
@extend_schema(methods=["DELETE"], responses={204: None})
@superadmin_required
@api_view(["GET", "PUT", "DELETE"])
def policy_detail(request: Request, policy_id: int) -> Response:
    policy = get_object_or_404(BackupPolicy, pk=policy_id)
    if request.method == "GET":
        return Response(_policy_data(policy))
    if request.method == "DELETE":
        services.policy_delete(policy=policy, actor=api_actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
    serializer = PolicySerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    policy = services.policy_update(
        policy=policy, actor=api_actor(request), **_policy_values(serializer.validated_data)
    )
    return Response(_policy_data(policy))


@extend_schema(request=None, responses={202: JobSerializer})
@superadmin_required
@api_view(["POST"])
def policy_run(request: Request, policy_id: int) -> Response:
    run = services.backup_start(policy=get_object_or_404(BackupPolicy, pk=policy_id), actor=api_actor(request))
    return job_accepted(run)


@extend_schema(
    responses=paginated(JobSerializer, "PaginatedBackupRunList"),
    parameters=[
        OpenApiParameter("policy", int),
        OpenApiParameter("kind", str, enum=["backup", "verify", "prune", "restore"]),
    ],
    description="Backup, verify, prune and restore runs, newest first.",
)
@superadmin_required
@api_view(["GET"])
def run_list(request: Request) -> Response:
    runs = JobRun.objects.filter(kind__in=["backup", "verify", "prune", "restore"])
    if kind := request.query_params.get("kind"):
        runs = runs.filter(kind=kind)
    if (policy := _policy_param(request)) is not None:
        runs = runs.filter(result__policy=policy)
    paginator = Pagination()
    page = paginator.paginate_queryset(runs, request)
    return paginator.get_paginated_response(JobSerializer(page, many=True).data)


@extend_schema(
    responses=paginated(ArchiveSerializer, "PaginatedBackupArchiveList"), parameters=[OpenApiParameter("policy", int)]
)
@superadmin_required
@api_view(["GET"])
def archive_list(request: Request) -> Response:
    archives = BackupArchive.objects.select_related("policy")
    if (policy := _policy_param(request)) is not None:
        archives = archives.filter(policy_id=policy)
    paginator = Pagination()
    page = paginator.paginate_queryset(archives, request)
    return paginator.get_paginated_response(ArchiveSerializer(page, many=True).data)


@extend_schema(
    request=VerifySerializer,
    responses={202: JobSerializer},
    description="Read the whole archive back and check it against its manifest. An encrypted archive needs "
    "`identity`, its age secret key (400 when missing or not its key).",
)
@superadmin_required
@api_view(["POST"])
@sensitive_variables("data", "serializer")
def archive_verify(request: Request, archive_id: int) -> Response:
    archive = get_object_or_404(BackupArchive, pk=archive_id)
    body = request.data if request.content_type.startswith("application/json") else {}  # a body is optional
    serializer = VerifySerializer(data=body)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    run = services.verify_start(archive=archive, actor=api_actor(request), identity=data["identity"])
    return job_accepted(run)


@extend_schema(
    request=RestoreSerializer,
    responses={202: JobSerializer},
    description="Restore all, one mailbox or the config folder. The job's result holds the preview "
    "(create/overwrite/kept); with dry_run nothing is written. Files about to be overwritten are "
    "first saved in a safety archive. An encrypted archive's restore needs `identity` (not a dry run, "
    "which reads only the manifest).",
)
@superadmin_required
@api_view(["POST"])
@sensitive_variables("data", "serializer")
def archive_restore(request: Request, archive_id: int) -> Response:
    if not may_write(request):
        return error_response("This token may only read.", status.HTTP_403_FORBIDDEN)
    archive = get_object_or_404(BackupArchive, pk=archive_id)
    serializer = RestoreSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    dry_run = data["dry_run"] or str(request.query_params.get("dry_run", "")).lower() in ("1", "true", "yes")
    run = services.restore_start(
        archive=archive,
        scope=data["scope"],
        mailbox=data["mailbox"],
        dry_run=dry_run,
        actor=api_actor(request),
        identity=data["identity"],
    )
    return job_accepted(run)


@extend_schema(
    responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="The archive")},
    description="The archive file, streamed. Admins only (a panel session, or a write token for every domain).",
)
@superadmin_required
@api_view(["GET"])
def archive_download(request: Request, archive_id: int) -> Response | FileResponse:
    if not may_write(request):  # a read token may list archives, not carry every mailbox away
        return error_response("Downloading a backup needs an admin or a write token for every domain.", 403)
    archive = get_object_or_404(BackupArchive, pk=archive_id)
    path = services.archive_download(archive=archive, actor=api_actor(request))
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)


def _policy_param(request: Request) -> int | None:
    """?policy=<id>; a value that is not a plausible id filters to nothing rather than failing."""
    raw = request.query_params.get("policy", "")
    if not raw:
        return None
    return int(raw) if raw.isdigit() and len(raw) <= 9 else -1
