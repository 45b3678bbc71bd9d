"""Output shapes shared by every app's API: the change summary and the job."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response

from dms_admin.changes import ChangeOutcome
from dms_admin.configstore import ChangeResult
from dms_admin.jobqueue import QueueUnavailable, ensure_queued
from dms_admin.models import JobRun
from dms_admin.storeerrors import RollbackConflict


class TextField(serializers.CharField):
    """A string and nothing else: DRF's CharField would take 5 or 1.5 for "5" or "1.5" silently,
    so a client sending the wrong type would never learn about it."""

    default_error_messages = {"invalid": "Must be a string (text in double quotes)."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)  # type: ignore[no-any-return]


class ChangeSerializer(serializers.Serializer):
    commit = serializers.CharField(allow_null=True)
    apply = serializers.ChoiceField(choices=["none", "watched", "reload", "recreate"])
    pending = serializers.BooleanField()


APPLY_LABELS = ["none", "watched", "reload", "recreate"]
APPLY_STATES = ["pending", "applied", "failed", "needs-apply"]


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "enum": APPLY_LABELS, "description": "dry run: what the change would need"},
            {
                "type": "object",
                "description": "a write: where the change stands (poll `job` while pending)",
                "required": ["state", "job", "message"],
                "properties": {
                    "state": {"type": "string", "enum": APPLY_STATES},
                    "job": {"type": "string", "format": "uuid", "nullable": True},
                    "message": {"type": "string"},
                },
            },
        ]
    }
)
class ApplyField(serializers.JSONField):
    """`apply`: the label a dry run would need, or the state of a write that was made."""


class ChangeResultSerializer(serializers.Serializer):
    """What a write answers: the change it made, or with ?dry_run=1 the diff it would make."""

    change = ChangeSerializer(required=False)
    dry_run = serializers.BooleanField(required=False)
    diff = serializers.CharField(required=False, help_text="Dry run: the unified diff of the files")
    apply = ApplyField(required=False)
    warnings = serializers.ListField(child=serializers.CharField(), required=False)


class JobSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobRun
        fields = [
            "id",
            "kind",
            "status",
            "progress",
            "message",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "result",
        ]


class CommitSerializer(serializers.Serializer):
    sha = serializers.CharField()
    author = serializers.CharField()
    message = serializers.CharField()
    files = serializers.ListField(child=serializers.CharField())
    at = serializers.DateTimeField()


class ConflictLineSerializer(serializers.Serializer):
    number = serializers.IntegerField(help_text="1-based line number (in the current file, or in the commit's)")
    text = serializers.CharField(help_text="the line; secret values of mailserver.env redacted")


class FileConflictSerializer(serializers.Serializer):
    path = serializers.CharField()
    reason = serializers.CharField()
    now = ConflictLineSerializer(many=True, help_text="the lines as they are now (empty: removed later)")
    change = ConflictLineSerializer(many=True, help_text="the same lines as the commit left them")
    more = serializers.IntegerField(help_text="lines of long regions not quoted")


# Inline: a class attribute named "fields" would hide Serializer.fields (DRF's metaclass pops it, the types do not).
ROLLBACK_CONFLICT = inline_serializer(
    "RollbackConflict",
    {
        "error": serializers.CharField(),
        "fields": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
        "conflicts": FileConflictSerializer(many=True),
    },
)


class RollbackResultSerializer(serializers.Serializer):
    files = serializers.ListField(child=serializers.CharField())
    change = ChangeSerializer(required=False)
    dry_run = serializers.BooleanField(required=False)
    diff = serializers.CharField(required=False)
    apply = ApplyField(required=False)


class RestoreFileResultSerializer(RollbackResultSerializer):
    path = serializers.CharField()
    undone = CommitSerializer(many=True, help_text="the later commits to this file that the restore undoes")


def rollback_conflict_response(conflict: RollbackConflict) -> Response:
    """409 in the API's error shape: one `fields` entry per file, and every line in `conflicts`."""
    fields: dict[str, list[str]] = {}
    for file in conflict.conflicts:
        lines = [f"line {line.number}: {line.text}" for line in file.now] or [file.reason]
        fields.setdefault(file.path, []).extend(lines)
    body = {
        "error": str(conflict),
        "fields": fields,
        "conflicts": FileConflictSerializer(conflict.conflicts, many=True).data,
    }
    return Response(body, status=status.HTTP_409_CONFLICT)


def job_accepted(run: JobRun, **payload: Any) -> Response:
    """202 with the job, or 503 (through the error handler) when Redis would not take it."""
    try:
        ensure_queued(run)
    except QueueUnavailable as exc:
        exc.done = payload
        raise
    body = {**payload, "job": JobSerializer(run).data} if payload else JobSerializer(run).data
    return Response(body, status=status.HTTP_202_ACCEPTED)


class ChangeJobResultSerializer(ChangeResultSerializer):
    job = JobSerializer()


def change_payload(result: ChangeResult, outcome: ChangeOutcome | None) -> dict[str, Any]:
    """`change` for a write, or `diff` and the `apply` it would need for a dry run."""
    from dms_admin.apply import plan

    if outcome is None:
        removed = [rel for rel, _, new in result.contents if new is None]
        planned = plan(result.files, created=result.created, removed=removed)
        return {"dry_run": True, "diff": result.diff, "apply": planned.action.label}
    return {"change": outcome.as_dict(), "apply": outcome.apply_dict()}


def is_dry_run(request: Any) -> bool:
    return str(request.query_params.get("dry_run", "")).lower() in ("1", "true", "yes")


_paginated: dict[str, type[serializers.Serializer]] = {}


def paginated(item: type[serializers.Serializer], name: str) -> type[serializers.Serializer]:
    """The schema of a page of `item`s: {"count", "next", "previous", "results": [...]}."""
    if name not in _paginated:
        _paginated[name] = type(
            name,
            (serializers.Serializer,),
            {
                "count": serializers.IntegerField(),
                "next": serializers.CharField(allow_null=True),
                "previous": serializers.CharField(allow_null=True),
                "results": item(many=True),
            },
        )
    return _paginated[name]


class AuditEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    actor = serializers.CharField()
    via = serializers.CharField()
    ip = serializers.CharField(allow_null=True)
    action = serializers.CharField()
    object = serializers.CharField(allow_blank=True)
    commit = serializers.CharField(allow_blank=True)


DRY_RUN = OpenApiParameter("dry_run", bool, description="Preview: nothing is written; the answer holds the diff.")
