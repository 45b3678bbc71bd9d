"""REST endpoints for mailboxes and quotas: the same services as the panel."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import services
from accounts.validation import normalize_address
from dms_admin.api.auth import allowed_domain, api_actor
from dms_admin.api.errors import error_response
from dms_admin.api.pagination import Pagination
from dms_admin.api.serializers import ChangeSerializer, JobSerializer, change_payload, is_dry_run
from dms_admin.errors import FieldError

DRY_RUN = OpenApiParameter("dry_run", bool, description="Preview: nothing is written; the answer holds the diff.")


class MailboxSerializer(serializers.Serializer):
    address = serializers.CharField()
    domain = serializers.CharField()
    scheme = serializers.CharField(help_text="Password hash scheme, e.g. SHA512-CRYPT")
    quota = serializers.CharField(allow_null=True, help_text="DMS size (5G) or null for the server default")


class MailboxWriteResultSerializer(MailboxSerializer):
    change = ChangeSerializer(required=False)


class MailboxCreateSerializer(serializers.Serializer):
    address = serializers.CharField(max_length=320)
    password = serializers.CharField(max_length=1024, write_only=True, trim_whitespace=False)
    quota = serializers.CharField(max_length=32, required=False, allow_null=True, allow_blank=True)


class MailboxUpdateSerializer(serializers.Serializer):
    password = serializers.CharField(max_length=1024, required=False, write_only=True, trim_whitespace=False)
    quota = serializers.CharField(max_length=32, required=False, allow_null=True, allow_blank=True)


class QuotaSerializer(serializers.Serializer):
    quota = serializers.CharField(max_length=32)


def _mailbox_data(mailbox: services.Mailbox) -> dict[str, Any]:
    return MailboxSerializer(mailbox).data  # type: ignore[return-value]


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def _find(request: Request, address: str) -> services.Mailbox | None:
    mailbox = services.mailbox_get(address=address)
    if mailbox is None or not allowed_domain(request, mailbox.domain):
        return None  # another domain's mailbox is not even there for a limited token
    return mailbox


@extend_schema(
    methods=["GET"],
    parameters=[OpenApiParameter("search", str), OpenApiParameter("domain", str)],
    responses=MailboxSerializer(many=True),
)
@extend_schema(
    methods=["POST"],
    request=MailboxCreateSerializer,
    parameters=[DRY_RUN],
    responses={201: MailboxWriteResultSerializer},
    description="One mailbox, or a JSON list of them (bulk: one commit, all or nothing).",
)
@api_view(["GET", "POST"])
def mailbox_list(request: Request) -> Response:
    if request.method == "GET":
        mailboxes = [
            m
            for m in services.mailbox_list(
                search=request.query_params.get("search", ""), domain=request.query_params.get("domain", "").lower()
            )
            if allowed_domain(request, m.domain)
        ]
        paginator = Pagination()
        page = paginator.paginate_queryset(mailboxes, request)  # type: ignore[arg-type]
        return paginator.get_paginated_response([_mailbox_data(m) for m in page or []])
    many = isinstance(request.data, list)
    serializer = MailboxCreateSerializer(data=request.data, many=many)
    serializer.is_valid(raise_exception=True)
    rows = serializer.validated_data if many else [serializer.validated_data]
    items = [services.NewMailbox(r["address"], r["password"], r.get("quota") or None) for r in rows]
    for index, item in enumerate(items):
        domain = _domain_of(item.address)
        if not allowed_domain(request, domain):
            field = f"{index}.address" if many else "address"
            return error_response(
                f"This token may not manage {domain}.", status.HTTP_403_FORBIDDEN, {field: ["not allowed"]}
            )
    saved = services.mailboxes_create(items=items, actor=api_actor(request), dry_run=is_dry_run(request))
    payload = change_payload(saved.result, saved.outcome)
    if saved.outcome is None:
        return Response(payload)
    created = [_mailbox_data(services.mailbox_get(address=normalize_address(i.address))) for i in items]  # type: ignore[arg-type]
    body: Any = [{**m, **payload} for m in created] if many else {**created[0], **payload}
    return Response(body, status=status.HTTP_201_CREATED)


@extend_schema(methods=["GET"], responses=MailboxSerializer)
@extend_schema(
    methods=["PATCH"], request=MailboxUpdateSerializer, parameters=[DRY_RUN], responses=MailboxWriteResultSerializer
)
@extend_schema(
    methods=["DELETE"],
    parameters=[DRY_RUN, OpenApiParameter("purge", bool, description="Also remove the mail folder (a job).")],
    responses={200: ChangeSerializer, 202: JobSerializer},
)
@api_view(["GET", "PATCH", "DELETE"])
def mailbox_detail(request: Request, address: str) -> Response:
    mailbox = _find(request, address)
    if mailbox is None:
        return error_response(f"There is no mailbox {address}.", status.HTTP_404_NOT_FOUND)
    actor, dry_run = api_actor(request), is_dry_run(request)
    if request.method == "GET":
        return Response(_mailbox_data(mailbox))
    if request.method == "DELETE":
        purge = str(request.query_params.get("purge", "")).lower() in ("1", "true", "yes")
        saved = services.mailbox_delete(address=mailbox.address, actor=actor, dry_run=dry_run)
        payload = change_payload(saved.result, saved.outcome)
        if purge and not dry_run:
            run = services.mailbox_purge_start(address=mailbox.address, actor=actor)
            return Response({**payload, "job": JobSerializer(run).data}, status=status.HTTP_202_ACCEPTED)
        return Response(payload)
    serializer = MailboxUpdateSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    if not data:
        raise FieldError("password", "Give a new password or quota.")
    payload = {}
    if "password" in data:
        saved = services.mailbox_set_password(
            address=mailbox.address, password=data["password"], actor=actor, dry_run=dry_run
        )
        payload = change_payload(saved.result, saved.outcome)
    if "quota" in data:
        saved = services.quota_set(address=mailbox.address, quota=data["quota"] or None, actor=actor, dry_run=dry_run)
        payload = change_payload(saved.result, saved.outcome)
    updated = services.mailbox_get(address=mailbox.address) or mailbox
    return Response({**_mailbox_data(updated), **payload})


@extend_schema(methods=["GET"], responses=QuotaSerializer)
@extend_schema(methods=["PUT"], request=QuotaSerializer, parameters=[DRY_RUN], responses=ChangeSerializer)
@extend_schema(methods=["DELETE"], parameters=[DRY_RUN], responses=ChangeSerializer)
@api_view(["GET", "PUT", "DELETE"])
def quota_detail(request: Request, address: str) -> Response:
    mailbox = _find(request, address)
    if mailbox is None:
        return error_response(f"There is no mailbox {address}.", status.HTTP_404_NOT_FOUND)
    if request.method == "GET":
        return Response({"address": mailbox.address, "quota": mailbox.quota})
    quota = None
    if request.method == "PUT":
        serializer = QuotaSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        quota = serializer.validated_data["quota"]
    saved = services.quota_set(
        address=mailbox.address, quota=quota, actor=api_actor(request), dry_run=is_dry_run(request)
    )
    return Response({"address": mailbox.address, "quota": quota, **change_payload(saved.result, saved.outcome)})
