"""API for running the mail container: health, logs, fail2ban, updates. Thin: validate, call one service."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from access.api_auth import api_actor
from access.roles import superadmin_required
from dms_admin.api.errors import error_response
from dms_admin.api.serializers import (
    JobSerializer,
    TextField,
    job_accepted,
)
from dms_admin.dms import get_mailserver
from dms_admin.ops import fail2ban, health, logs, logscan, updates


class CheckSerializer(serializers.Serializer):
    id = serializers.CharField()
    title = serializers.CharField()
    ok = serializers.BooleanField()
    status = serializers.CharField(help_text="ok, warn or error")
    message = serializers.CharField()
    fix = serializers.CharField(help_text="What to do; empty when nothing needs doing")
    details = serializers.ListField(child=serializers.CharField())


class ProgramSerializer(serializers.Serializer):
    name = serializers.CharField()
    state = serializers.CharField()
    detail = serializers.CharField()
    expected = serializers.BooleanField(help_text="Must be RUNNING with the container's settings")


class HealthSerializer(serializers.Serializer):
    ok = serializers.BooleanField(help_text="Every check is ok")
    status = serializers.CharField(help_text="The worst check's: ok, warn or error")
    reachable = serializers.BooleanField(help_text="The mail container could be reached")
    checked_at = serializers.DateTimeField()
    checks = CheckSerializer(many=True)
    programs = ProgramSerializer(many=True)


@extend_schema(responses=HealthSerializer)
@superadmin_required
@api_view(["GET"])
def health_detail(request: Request) -> Response:
    report = health.health_report()
    data = {
        "ok": report.status == health.OK,
        "status": report.status,
        "reachable": report.reachable,
        "checked_at": report.checked_at,
        "checks": report.checks,
        "programs": report.programs,
    }
    return Response(HealthSerializer(data).data)


class KnownErrorSerializer(serializers.Serializer):
    id = serializers.CharField()
    title = serializers.CharField()
    severity = serializers.ChoiceField(choices=[logscan.ERROR, logscan.WARN])
    explanation = serializers.CharField()
    fix = serializers.CharField()


class LogLineSerializer(serializers.Serializer):
    at = serializers.DateTimeField(allow_null=True)
    service = serializers.CharField()
    text = serializers.CharField()
    known = KnownErrorSerializer(allow_null=True, help_text="The known error this line shows, with its fix")


class FindingSerializer(KnownErrorSerializer):
    count = serializers.IntegerField()
    last_at = serializers.DateTimeField(allow_null=True)
    example = serializers.CharField(help_text="The latest line")


class LogsSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Lines that match")
    read = serializers.IntegerField(help_text="Lines read from the container (the tail)")
    results = LogLineSerializer(many=True, help_text=f"The matching lines, oldest first, at most {logs.MAX_SHOWN}")
    known_errors = FindingSerializer(many=True)


@extend_schema(
    responses=LogsSerializer,
    parameters=[
        OpenApiParameter("since", str, description="15m, 2h, 1d, an ISO date/time or epoch seconds"),
        OpenApiParameter("service", str, enum=list(logscan.SERVICES)),
        OpenApiParameter("search", str, description="Text the line contains (case-insensitive)"),
        OpenApiParameter("tail", int, description=f"Lines read from the end (default {logs.DEFAULT_TAIL})"),
    ],
)
@superadmin_required
@api_view(["GET"])
def log_list(request: Request) -> Response:
    params = request.query_params
    try:
        tail = int(params.get("tail") or logs.DEFAULT_TAIL)
    except ValueError:
        return error_response("tail must be a whole number.", 400, {"tail": ["Not a whole number."]})
    view = logs.logs_read(
        since=logs.logs_since(params.get("since", "")),
        service=params.get("service", ""),
        search=params.get("search", ""),
        tail=tail,
    )
    findings = [
        {**_known(f.error), "count": f.count, "last_at": f.last.at, "example": f.last.text} for f in view.findings
    ]
    data = {"count": view.matched, "read": view.read, "results": view.lines, "known_errors": findings}
    return Response(LogsSerializer(data).data)


def _known(error: logscan.KnownError) -> dict[str, Any]:
    return {k: getattr(error, k) for k in ("id", "title", "severity", "explanation", "fix")}


class JailSerializer(serializers.Serializer):
    name = serializers.CharField()
    banned = serializers.ListField(child=serializers.CharField())
    currently_failed = serializers.IntegerField(allow_null=True)
    total_banned = serializers.IntegerField(allow_null=True)


class IpSerializer(serializers.Serializer):
    ip = TextField(max_length=64)


class MessageSerializer(serializers.Serializer):
    message = serializers.CharField()


@extend_schema(responses=JailSerializer(many=True))
@superadmin_required
@api_view(["GET"])
def fail2ban_list(request: Request) -> Response:
    try:
        jails = fail2ban.fail2ban_jails()
    except fail2ban.Fail2banError as exc:
        return error_response(str(exc), status.HTTP_409_CONFLICT)
    return Response(JailSerializer(jails, many=True).data)


@extend_schema(request=IpSerializer, responses=MessageSerializer)
@superadmin_required
@api_view(["POST"])
def fail2ban_ban(request: Request) -> Response:
    return _fail2ban_act(request, fail2ban.fail2ban_ban)


@extend_schema(request=IpSerializer, responses=MessageSerializer)
@superadmin_required
@api_view(["POST"])
def fail2ban_unban(request: Request) -> Response:
    return _fail2ban_act(request, fail2ban.fail2ban_unban)


def _fail2ban_act(request: Request, act: Any) -> Response:
    body = IpSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    try:
        message = act(ip=body.validated_data["ip"], actor=api_actor(request))
    except fail2ban.Fail2banError as exc:
        return error_response(str(exc), status.HTTP_409_CONFLICT)
    return Response({"message": message})


class ImageSerializer(serializers.Serializer):
    id = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    version = serializers.CharField(allow_null=True)
    created = serializers.DateTimeField(allow_null=True)


class CandidateSerializer(serializers.Serializer):
    ref = serializers.CharField()
    image = ImageSerializer()


class UpdateInfoSerializer(serializers.Serializer):
    ref = serializers.CharField(help_text="The reference the container was created from")
    current = ImageSerializer()
    newer = CandidateSerializer(many=True, help_text="Newer local images of the same repository")
    registry = serializers.CharField(help_text="What the registry check found (with ?check=1); empty otherwise")
    registry_newer = serializers.BooleanField()


class UpdateStartSerializer(serializers.Serializer):
    image = serializers.CharField(help_text="An image of the repository in use, e.g. one of `newer`")


@extend_schema(
    methods=["GET"],
    responses=UpdateInfoSerializer,
    parameters=[OpenApiParameter("check", bool, description="Also ask the registry (slow when unreachable)")],
)
@extend_schema(methods=["POST"], request=UpdateStartSerializer, responses={202: JobSerializer})
@superadmin_required
@api_view(["GET", "POST"])
def update_list(request: Request) -> Response:
    if request.method == "POST":
        body = UpdateStartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = updates.update_start(image=body.validated_data["image"], actor=api_actor(request))
        return job_accepted(run)
    check = str(request.query_params.get("check", "")).lower() in ("1", "true", "yes")
    return Response(UpdateInfoSerializer(updates.update_check(registry=check)).data)


@extend_schema(responses=inline_serializer("Container", {"state": serializers.CharField()}))
@superadmin_required
@api_view(["GET"])
def container(request: Request) -> Response:
    mailserver = get_mailserver()
    status_ = mailserver.status()
    memory = mailserver.memory() if status_.running else None
    return Response(
        {
            "name": status_.name,
            "state": status_.state,
            "health": status_.health,
            "version": status_.version,
            "image": status_.image,
            "started_at": status_.started_at,
            "memory": {"used": memory.used, "limit": memory.limit} if memory else None,
            "checked_at": timezone.now(),
        }
    )
