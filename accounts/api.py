"""REST endpoints for mailboxes and quotas: the same services as the panel."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from access.api_auth import allowed_domain, api_actor
from access.roles import domain_scoped, superadmin_required
from accounts import services
from accounts.validation import normalize_address
from dms_admin.api.errors import error_response
from dms_admin.api.pagination import Pagination
from dms_admin.api.serializers import (
    DRY_RUN,
    ChangeJobResultSerializer,
    ChangeResultSerializer,
    ChangeSerializer,
    TextField,
    change_payload,
    is_dry_run,
    job_accepted,
    paginated,
)
from dms_admin.audit import Actor
from dms_admin.errors import FieldError
from dms_admin.mailnames import normalize_domain


class MailboxSerializer(serializers.Serializer):
    address = serializers.CharField()
    domain = serializers.CharField()
    scheme = serializers.CharField(help_text="Password hash scheme, e.g. SHA512-CRYPT")
    quota = serializers.CharField(allow_null=True, help_text="DMS size (5G) or null for the server default")
    quota_via = serializers.CharField(
        help_text="Non-empty when DMS applies another address's quota line to this mailbox (its substring lookup)"
    )


class MailboxWriteResultSerializer(MailboxSerializer):
    change = ChangeSerializer(required=False)


class MailboxCreateSerializer(serializers.Serializer):
    address = TextField(max_length=320)
    password = TextField(max_length=1024, write_only=True, trim_whitespace=False)
    quota = TextField(max_length=32, required=False, allow_null=True, allow_blank=True)


class MailboxUpdateSerializer(serializers.Serializer):
    password = TextField(max_length=1024, required=False, write_only=True, trim_whitespace=False)
    quota = TextField(max_length=32, required=False, allow_null=True, allow_blank=True)


class QuotaSerializer(serializers.Serializer):
    quota = TextField(max_length=32)


class QuotaUsageSerializer(serializers.Serializer):
    address = serializers.CharField()
    quota = serializers.CharField(allow_null=True)
    used_bytes = serializers.IntegerField(allow_null=True, help_text="null: no mail folder yet")
    limit_bytes = serializers.IntegerField(allow_null=True)


class QuotaResultSerializer(ChangeResultSerializer):
    address = serializers.CharField()
    quota = serializers.CharField(allow_null=True)


def _mailbox_data(mailbox: services.Mailbox) -> dict[str, Any]:
    return MailboxSerializer(mailbox).data  # type: ignore[return-value]


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def _domain_filter(request: Request) -> str:
    """`?domain=` in its stored (punycode) form, either form accepted; 400 for a name that is not one."""
    raw = request.query_params.get("domain", "")
    return normalize_domain(raw) if raw.strip() else ""


def _find(request: Request, address: str) -> services.Mailbox | None:
    mailbox = services.mailbox_get(address=address)
    if mailbox is None or not allowed_domain(request, mailbox.domain):
        return None  # another domain's mailbox is not even there for a limited token
    return mailbox


def _mailbox_page(request: Request) -> Response:
    search, domain = request.query_params.get("search", ""), _domain_filter(request)
    mailboxes = [m for m in services.mailbox_list(search=search, domain=domain) if allowed_domain(request, m.domain)]
    paginator = Pagination()
    page = paginator.paginate_queryset(mailboxes, request)  # type: ignore[arg-type]
    return paginator.get_paginated_response([_mailbox_data(m) for m in page or []])


def _mailbox_delete(request: Request, mailbox: Any, actor: Actor, dry_run: bool) -> Response:
    """The account goes; with ?purge=1 its mail folder too, in a job (202 with the job)."""
    purge = str(request.query_params.get("purge", "")).lower() in ("1", "true", "yes")
    saved = services.mailbox_delete(address=mailbox.address, actor=actor, dry_run=dry_run)
    payload = change_payload(saved.result, saved.outcome)
    if purge and not dry_run:
        run = services.mailbox_purge_start(address=mailbox.address, actor=actor)
        return job_accepted(run, **payload)
    return Response(payload)


@domain_scoped
@extend_schema(
    methods=["GET"],
    parameters=[OpenApiParameter("search", str), OpenApiParameter("domain", str)],
    responses=paginated(MailboxSerializer, "PaginatedMailboxList"),
    operation_id="mailboxes_list",
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
        return _mailbox_page(request)
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


@domain_scoped
@extend_schema(methods=["GET"], responses=MailboxSerializer)
@extend_schema(
    methods=["PATCH"], request=MailboxUpdateSerializer, parameters=[DRY_RUN], responses=MailboxWriteResultSerializer
)
@extend_schema(
    methods=["DELETE"],
    parameters=[DRY_RUN, OpenApiParameter("purge", bool, description="Also remove the mail folder (a job).")],
    responses={200: ChangeResultSerializer, 202: ChangeJobResultSerializer},
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
        return _mailbox_delete(request, mailbox, actor, dry_run)
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


@domain_scoped
@extend_schema(methods=["GET"], responses=QuotaUsageSerializer)
@extend_schema(methods=["PUT"], request=QuotaSerializer, parameters=[DRY_RUN], responses=QuotaResultSerializer)
@extend_schema(methods=["DELETE"], parameters=[DRY_RUN], responses={200: QuotaResultSerializer})
@api_view(["GET", "PUT", "DELETE"])
def quota_detail(request: Request, address: str) -> Response:
    mailbox = _find(request, address)
    if mailbox is None:
        return error_response(f"There is no mailbox {address}.", status.HTTP_404_NOT_FOUND)
    if request.method == "GET":
        [usage] = services.mailbox_usage([mailbox])
        return Response(
            {"address": mailbox.address, "quota": mailbox.quota, "used_bytes": usage.used, "limit_bytes": usage.limit}
        )
    quota = None
    if request.method == "PUT":
        serializer = QuotaSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        quota = serializer.validated_data["quota"]
    saved = services.quota_set(
        address=mailbox.address, quota=quota, actor=api_actor(request), dry_run=is_dry_run(request)
    )
    return Response({"address": mailbox.address, "quota": quota, **change_payload(saved.result, saved.outcome)})


# ---- aliases ------------------------------------------------------------------------------------------


class AliasSerializer(serializers.Serializer):
    address = TextField(max_length=320, help_text="name@domain, or @domain for a catch-all")
    targets = serializers.ListField(child=TextField(max_length=320), min_length=1, max_length=100)


class AliasResultSerializer(AliasSerializer):
    catch_all = serializers.BooleanField(read_only=True)
    change = ChangeSerializer(required=False)
    warnings = serializers.ListField(child=serializers.CharField(), required=False)


class AliasTargetsSerializer(serializers.Serializer):
    targets = serializers.ListField(child=TextField(max_length=320), min_length=1, max_length=100)


def _alias_data(alias: Any) -> dict[str, Any]:
    return {"address": alias.address, "targets": list(alias.targets), "catch_all": alias.is_catch_all}


def _saved_payload(saved: services.Saved) -> dict[str, Any]:
    payload = change_payload(saved.result, saved.outcome)
    if saved.warnings:
        payload["warnings"] = saved.warnings
    return payload


@domain_scoped
@extend_schema(
    methods=["GET"],
    parameters=[OpenApiParameter("search", str), OpenApiParameter("domain", str)],
    responses=paginated(AliasResultSerializer, "PaginatedAliasList"),
    operation_id="aliases_list",
)
@extend_schema(methods=["POST"], request=AliasSerializer, parameters=[DRY_RUN], responses={201: AliasResultSerializer})
@api_view(["GET", "POST"])
def alias_list(request: Request) -> Response:
    if request.method == "GET":
        aliases = [
            a
            for a in services.alias_list(search=request.query_params.get("search", ""), domain=_domain_filter(request))
            if allowed_domain(request, a.domain)
        ]
        paginator = Pagination()
        page = paginator.paginate_queryset(aliases, request)  # type: ignore[arg-type]
        return paginator.get_paginated_response([_alias_data(a) for a in page or []])
    serializer = AliasSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    if not allowed_domain(request, _domain_of(data["address"])):
        return error_response(
            "This token may not manage that domain.", status.HTTP_403_FORBIDDEN, {"address": ["not allowed"]}
        )
    saved = services.alias_save(
        address=data["address"], targets=data["targets"], actor=api_actor(request), dry_run=is_dry_run(request)
    )
    if saved.outcome is None:
        return Response(_saved_payload(saved))
    alias = services.alias_get(address=data["address"].strip().lower())
    return Response({**_alias_data(alias), **_saved_payload(saved)}, status=status.HTTP_201_CREATED)


@domain_scoped
@extend_schema(methods=["GET"], responses=AliasResultSerializer)
@extend_schema(methods=["PUT"], request=AliasTargetsSerializer, parameters=[DRY_RUN], responses=AliasResultSerializer)
@extend_schema(methods=["DELETE"], parameters=[DRY_RUN], responses={200: ChangeResultSerializer})
@api_view(["GET", "PUT", "DELETE"])
def alias_detail(request: Request, address: str) -> Response:
    alias = services.alias_get(address=address)
    if alias is None or not allowed_domain(request, alias.domain):
        return error_response(f"There is no alias {address}.", status.HTTP_404_NOT_FOUND)
    actor, dry_run = api_actor(request), is_dry_run(request)
    if request.method == "GET":
        return Response(_alias_data(alias))
    if request.method == "DELETE":
        saved = services.alias_delete(address=alias.address, actor=actor, dry_run=dry_run)
        return Response(_saved_payload(saved))
    serializer = AliasTargetsSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    saved = services.alias_save(
        address=alias.address, targets=serializer.validated_data["targets"], replace=True, actor=actor, dry_run=dry_run
    )
    updated = services.alias_get(address=alias.address) or alias
    return Response({**_alias_data(updated), **_saved_payload(saved)})


class RegexpAliasSerializer(serializers.Serializer):
    pattern = TextField(max_length=1000, trim_whitespace=False, help_text="PCRE, without the slashes")
    flags = TextField(max_length=3, required=False, allow_blank=True, default="")
    targets = serializers.ListField(child=TextField(max_length=320), min_length=1, max_length=100)


class RegexpAliasResultSerializer(RegexpAliasSerializer):
    id = serializers.CharField(read_only=True)
    change = ChangeSerializer(required=False)


def _regexp_data(entry: Any) -> dict[str, Any]:
    return {
        "id": services.regexp_id(entry),
        "pattern": entry.pattern,
        "flags": entry.flags,
        "targets": list(entry.targets),
    }


@extend_schema(
    methods=["GET"],
    responses=paginated(RegexpAliasResultSerializer, "PaginatedRegexpAliasList"),
    operation_id="regexp_aliases_list",
)
@extend_schema(
    methods=["POST"], request=RegexpAliasSerializer, parameters=[DRY_RUN], responses={201: RegexpAliasResultSerializer}
)
@superadmin_required
@api_view(["GET", "POST"])
@superadmin_required  # a pattern can match any domain
def regexp_list(request: Request) -> Response:
    if request.method == "GET":
        paginator = Pagination()
        page = paginator.paginate_queryset(services.regexp_list(), request)  # type: ignore[arg-type]
        return paginator.get_paginated_response([_regexp_data(e) for e in page or []])
    serializer = RegexpAliasSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    saved = services.regexp_save(
        pattern=data["pattern"],
        flags=data["flags"],
        targets=data["targets"],
        actor=api_actor(request),
        dry_run=is_dry_run(request),
    )
    if saved.outcome is None:
        return Response(_saved_payload(saved))
    entry = services.regexp_list()[-1]
    return Response({**_regexp_data(entry), **_saved_payload(saved)}, status=status.HTTP_201_CREATED)


@extend_schema(methods=["GET"], responses=RegexpAliasResultSerializer)
@extend_schema(
    methods=["PUT"], request=RegexpAliasSerializer, parameters=[DRY_RUN], responses=RegexpAliasResultSerializer
)
@extend_schema(methods=["DELETE"], parameters=[DRY_RUN], responses={200: ChangeResultSerializer})
@superadmin_required
@api_view(["GET", "PUT", "DELETE"])
def regexp_detail(request: Request, id: str) -> Response:
    entry = services.regexp_get(id=id)
    if entry is None:
        return error_response("There is no such regexp alias.", status.HTTP_404_NOT_FOUND)
    actor, dry_run = api_actor(request), is_dry_run(request)
    if request.method == "GET":
        return Response(_regexp_data(entry))
    if request.method == "DELETE":
        return Response(_saved_payload(services.regexp_delete(id=id, actor=actor, dry_run=dry_run)))
    serializer = RegexpAliasSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    saved = services.regexp_save(
        pattern=data["pattern"], flags=data["flags"], targets=data["targets"], id=id, actor=actor, dry_run=dry_run
    )
    return Response(_saved_payload(saved))
