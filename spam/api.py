"""REST endpoints for spam filtering: the same services as the panel."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from access.api_auth import api_actor
from access.roles import superadmin_required
from dms_admin.api.errors import error_response
from dms_admin.api.pagination import Pagination
from dms_admin.api.serializers import (
    DRY_RUN,
    ChangeSerializer,
    JobSerializer,
    change_payload,
    is_dry_run,
    job_accepted,
    paginated,
)
from spam import files, services
from spam.models import TrainingRun, TrainingSchedule


class RulesSerializer(serializers.Serializer):
    text = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=1_000_000)


class RulesResultSerializer(RulesSerializer):
    change = ChangeSerializer(required=False)


class LintProblemSerializer(serializers.Serializer):
    line = serializers.IntegerField(allow_null=True)
    message = serializers.CharField()
    denied = serializers.BooleanField(
        help_text="Refused by dms-admin itself (a setting that loads code, reads files or runs programs); "
        "such rules are never linted"
    )


# Inline: a class attribute named "fields" would hide Serializer.fields (DRF's metaclass pops it, the types do not).
LINT_RESULT = inline_serializer(
    "LintResult",
    {
        "ok": serializers.BooleanField(),
        "problems": LintProblemSerializer(many=True),
        "fields": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
    },
)


LINT_REFUSED = inline_serializer(
    "LintRefused",
    {  # 400: the API's error shape; `ok`/`problems` when the rules themselves were refused (not the body)
        "error": serializers.CharField(),
        "fields": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
        "ok": serializers.BooleanField(required=False),
        "problems": LintProblemSerializer(many=True, required=False),
    },
)


class ScheduleSerializer(serializers.ModelSerializer):
    spam_folders = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    ham_folders = serializers.ListField(child=serializers.CharField(max_length=100), required=False)

    class Meta:
        model = TrainingSchedule
        fields = ["id", "scope", "target", "spam_folders", "ham_folders", "cron", "timezone", "enabled", "created_at"]
        read_only_fields = ["id", "created_at"]


class RunSerializer(serializers.ModelSerializer):
    job = serializers.UUIDField(source="job_id", allow_null=True, read_only=True)
    schedule = serializers.IntegerField(source="schedule_id", allow_null=True, read_only=True)

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "schedule",
            "job",
            "engine",
            "started_at",
            "ended_at",
            "spam_folders",
            "ham_folders",
            "learned_spam",
            "learned_ham",
            "examined_spam",
            "examined_ham",
            "nspam_before",
            "nham_before",
            "nspam_after",
            "nham_after",
            "ok",
            "errors",
        ]


class BayesSerializer(serializers.Serializer):
    engine = serializers.CharField(help_text="spamassassin or rspamd: the engine the mail container runs")
    nspam = serializers.IntegerField()
    nham = serializers.IntegerField()
    ntokens = serializers.IntegerField()
    min_spam = serializers.IntegerField()
    min_ham = serializers.IntegerField()
    active = serializers.BooleanField()
    message = serializers.CharField()


def _lint_payload(problems: list[files.LintProblem]) -> dict[str, Any]:
    return {
        "ok": not problems,
        "problems": [{"line": p.line, "message": p.message, "denied": p.denied} for p in problems],
        "fields": {"text": [f"line {p.line}: {p.message}" if p.line else p.message for p in problems]}
        if problems
        else {},
    }


def _text(request: Request) -> str:
    serializer = RulesSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    return str(serializer.validated_data["text"])


@extend_schema(methods=["GET"], responses=RulesSerializer)
@extend_schema(
    methods=["PUT"],
    request=RulesSerializer,
    parameters=[DRY_RUN],
    responses={200: RulesResultSerializer},  # 400: the API's error shape, `fields.text` by line
    description="Refuses settings that load code, read files or run programs (loadplugin, include, bayes_path, "
    "eval: tests SpamAssassin does not ship, …), then lints with the mail container's `spamassassin --lint`; "
    "400 lists the problems by line.",
)
@superadmin_required
@api_view(["GET", "PUT"])
def rules(request: Request) -> Response:
    if request.method == "GET":
        return Response({"text": services.rules_get()})
    text = _text(request)
    try:
        result, outcome = services.rules_save(text=text, actor=api_actor(request), dry_run=is_dry_run(request))
    except services.RulesInvalid as invalid:
        body = _lint_payload(invalid.problems)
        return error_response(f"{invalid.headline}: {invalid.message}", status.HTTP_400_BAD_REQUEST, body["fields"])
    return Response({"text": services.rules_get(), **change_payload(result, outcome)})


@extend_schema(
    request=RulesSerializer,
    responses={200: LINT_RESULT, 400: LINT_REFUSED},
    description="200 with SpamAssassin's lint problems (none: ok); 400 with `error` when dms-admin refuses a "
    "line outright (then SpamAssassin is not asked).",
)
@superadmin_required
@api_view(["POST"])
def rules_validate(request: Request) -> Response:
    problems = services.rules_lint(text=_text(request))
    body = _lint_payload(problems)
    if any(p.denied for p in problems):
        invalid = services.RulesInvalid(problems)
        return Response({"error": f"{invalid.headline}: {invalid.message}", **body}, status=status.HTTP_400_BAD_REQUEST)
    return Response(body)


def _schedule_values(request: Request, partial: bool = False) -> dict[str, Any]:
    serializer = ScheduleSerializer(data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


@extend_schema(
    methods=["GET"],
    responses=paginated(ScheduleSerializer, "PaginatedTrainingScheduleList"),
    operation_id="spam_schedules_list",
)
@extend_schema(methods=["POST"], request=ScheduleSerializer, responses={201: ScheduleSerializer})
@superadmin_required
@api_view(["GET", "POST"])
def schedule_list(request: Request) -> Response:
    if request.method == "POST":
        schedule = services.schedule_create(actor=api_actor(request), **_schedule_values(request))
        return Response(ScheduleSerializer(schedule).data, status=status.HTTP_201_CREATED)
    paginator = Pagination()
    page = paginator.paginate_queryset(TrainingSchedule.objects.all(), request)  # type: ignore[arg-type]
    return paginator.get_paginated_response(ScheduleSerializer(page, many=True).data)


@extend_schema(methods=["GET"], responses=ScheduleSerializer)
@extend_schema(methods=["PUT"], request=ScheduleSerializer, responses=ScheduleSerializer)
@extend_schema(methods=["DELETE"], responses={204: None})
@superadmin_required
@api_view(["GET", "PUT", "DELETE"])
def schedule_detail(request: Request, schedule_id: int) -> Response:
    schedule = get_object_or_404(TrainingSchedule, pk=schedule_id)
    if request.method == "DELETE":
        services.schedule_delete(schedule=schedule, actor=api_actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
    if request.method == "PUT":
        # Fields left out keep their value, so a client may send only what changes.
        values = {k: v for k, v in ScheduleSerializer(schedule).data.items() if k not in ("id", "created_at")}
        values.update(_schedule_values(request, partial=True))
        schedule = services.schedule_update(schedule=schedule, actor=api_actor(request), **values)
    return Response(ScheduleSerializer(schedule).data)


@extend_schema(request=None, responses={202: JobSerializer})
@superadmin_required
@api_view(["POST"])
def schedule_run(request: Request, schedule_id: int) -> Response:
    schedule = get_object_or_404(TrainingSchedule, pk=schedule_id)
    run = services.training_start(schedule=schedule, actor=api_actor(request))
    return job_accepted(run)


@extend_schema(
    responses=paginated(RunSerializer, "PaginatedTrainingRunList"),
    parameters=[OpenApiParameter("schedule", int)],
    operation_id="spam_runs_list",
)
@superadmin_required
@api_view(["GET"])
def run_list(request: Request) -> Response:
    runs = TrainingRun.objects.all()
    if schedule := request.query_params.get("schedule"):
        if not schedule.isdigit() or len(schedule) > 9:
            return error_response("schedule must be a schedule id.", status.HTTP_400_BAD_REQUEST)
        runs = runs.filter(schedule_id=int(schedule))
    paginator = Pagination()
    page = paginator.paginate_queryset(runs, request)  # type: ignore[arg-type]
    return paginator.get_paginated_response(RunSerializer(page, many=True).data)


@extend_schema(responses=BayesSerializer)
@superadmin_required
@api_view(["GET"])
def bayes(request: Request) -> Response:
    engine = services.engine_active()
    stats = services.bayes_stats(engine=engine)
    return Response(
        {
            "engine": engine,
            "nspam": stats.nspam,
            "nham": stats.nham,
            "ntokens": stats.ntokens,
            "min_spam": files.MIN_SPAM,
            "min_ham": files.MIN_HAM,
            "active": stats.active,
            "message": services.needed_sentence(stats),
        }
    )
