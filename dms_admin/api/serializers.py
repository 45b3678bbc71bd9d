"""Output shapes shared by every app's API: the change summary and the job."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from dms_admin.configstore import ChangeResult
from dms_admin.models import JobRun
from dms_admin.services import ChangeOutcome


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


class ChangeResultSerializer(serializers.Serializer):
    """What a write answers: the change it made, or with ?dry_run=1 the diff it would make."""

    change = ChangeSerializer(required=False)
    dry_run = serializers.BooleanField(required=False)
    diff = serializers.CharField(required=False, help_text="Dry run: the unified diff of the files")
    apply = serializers.ChoiceField(choices=["none", "watched", "reload", "recreate"], required=False)
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


class ChangeJobResultSerializer(ChangeResultSerializer):
    job = JobSerializer()


def change_payload(result: ChangeResult, outcome: ChangeOutcome | None) -> dict[str, Any]:
    """`change` for a write, or `diff` and the `apply` it would need for a dry run."""
    from dms_admin.apply import plan

    if outcome is None:
        return {"dry_run": True, "diff": result.diff, "apply": plan(result.files, created=result.created).action.label}
    return {"change": outcome.as_dict()}


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
