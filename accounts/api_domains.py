"""REST endpoints for domains: the derived list, DNS records with the live check, DKIM keys."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from access.api_auth import allowed_domain, api_actor
from access.roles import domain_scoped
from accounts import dkim, domains
from accounts.dnsrecords import DnsRecord
from dms_admin.api.errors import error_response
from dms_admin.api.pagination import Pagination
from dms_admin.api.serializers import DRY_RUN, ChangeSerializer, TextField, change_payload, is_dry_run, paginated


class DomainSerializer(serializers.Serializer):
    domain = serializers.CharField(source="name")
    mailboxes = serializers.IntegerField()
    aliases = serializers.IntegerField(help_text="Aliases of the domain, catch-all included")
    catch_all = serializers.BooleanField()
    dkim_selector = serializers.CharField(allow_null=True, help_text="The selector mail is signed with; null: no key")


class DnsRecordSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["MX", "SPF", "DKIM", "DMARC"])
    type = serializers.ChoiceField(choices=["MX", "TXT"])
    name = serializers.CharField()
    expected = serializers.CharField(help_text="What to publish; empty when it cannot be known yet (see note)")
    found = serializers.ListField(child=serializers.CharField(), help_text="What DNS answered (the relevant records)")
    ok = serializers.BooleanField(allow_null=True, help_text="null when not checked")
    status = serializers.ChoiceField(
        choices=["ok", "weak", "wrong", "not found", "DNS did not answer", "not checked", "unknown"]
    )
    fix = serializers.CharField(help_text="What to change in the zone; empty when nothing needs doing")
    note = serializers.CharField(help_text="Why a record that differs from expected passes, or what DNS said")
    answer = serializers.ChoiceField(
        choices=["", "not found", "DNS did not answer"], help_text="Set when DNS gave nothing relevant"
    )


class DomainDnsSerializer(serializers.Serializer):
    domain = serializers.CharField()
    checked = serializers.BooleanField(help_text="Whether DNS was asked (false with ?check=0)")
    records = DnsRecordSerializer(many=True)


class DkimSerializer(serializers.Serializer):
    domain = serializers.CharField()
    engine = serializers.ChoiceField(choices=[dkim.OPENDKIM, dkim.RSPAMD])
    selector = serializers.CharField()
    bits = serializers.IntegerField()
    name = serializers.CharField(help_text="Where to publish the TXT record")
    value = serializers.CharField(help_text="The TXT record's content")
    zone = serializers.CharField(help_text="The record as a zone file snippet, in strings of at most 255 characters")
    signing = serializers.BooleanField(help_text="Whether the mail server signs with this key")


class DkimWriteResultSerializer(DkimSerializer):
    change = ChangeSerializer()


class DkimGenerateSerializer(serializers.Serializer):
    selector = TextField(max_length=63, required=False, default=dkim.DEFAULT_SELECTOR)
    bits = serializers.ChoiceField(choices=list(dkim.KEY_SIZES), required=False, default=dkim.DEFAULT_BITS)
    force = serializers.BooleanField(required=False, default=False, help_text="Replace an existing key")


class DryRunSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField()
    diff = serializers.CharField(help_text="Unified diff; private keys are not shown")
    apply = serializers.ChoiceField(choices=["none", "watched", "reload", "recreate"])


def _dkim_data(key: domains.DkimKey) -> dict[str, Any]:
    fields = ("domain", "engine", "selector", "bits", "name", "value", "zone", "signing")
    return {field: getattr(key, field) for field in fields}


def _record_data(record: DnsRecord) -> dict[str, Any]:
    return DnsRecordSerializer(record).data  # type: ignore[return-value]


def _find(request: Request, domain: str) -> domains.Domain | None:
    found = domains.domain_get(domain)
    if found is None or not allowed_domain(request, found.name):
        return None  # another domain is not even there for a limited token
    return found


def _not_found(domain: str) -> Response:
    return error_response(f"There is no domain {domain} (no mailbox or alias uses it).", status.HTTP_404_NOT_FOUND)


@domain_scoped
@extend_schema(
    parameters=[OpenApiParameter("search", str)], responses=paginated(DomainSerializer, "PaginatedDomainList")
)
@api_view(["GET"])
def domain_list(request: Request) -> Response:
    found = [
        d for d in domains.domain_list(search=request.query_params.get("search", "")) if allowed_domain(request, d.name)
    ]
    paginator = Pagination()
    page = paginator.paginate_queryset(found, request)  # type: ignore[arg-type]
    return paginator.get_paginated_response([DomainSerializer(d).data for d in page or []])


@domain_scoped
@extend_schema(
    parameters=[OpenApiParameter("check", bool, description="Ask DNS now (default); 0 lists the records only.")],
    responses=DomainDnsSerializer,
)
@api_view(["GET"])
def domain_dns(request: Request, domain: str) -> Response:
    found = _find(request, domain)
    if found is None:
        return _not_found(domain)
    check = str(request.query_params.get("check", "1")).lower() not in ("0", "false", "no")
    records = domains.domain_dns_check(found.name) if check else domains.domain_dns_records(found.name)
    return Response({"domain": found.name, "checked": check, "records": [_record_data(r) for r in records]})


@domain_scoped
@extend_schema(methods=["GET"], responses=DkimSerializer)
@extend_schema(
    methods=["DELETE"],
    parameters=[DRY_RUN],
    responses={200: DkimWriteResultSerializer},
    description="Delete the key the domain is signed with (another selector's key may then sign): the "
    "answer is the deleted key, whose TXT record can leave DNS once the change is applied, and the change.",
)
@extend_schema(
    methods=["POST"],
    request=DkimGenerateSerializer,
    parameters=[DRY_RUN],
    responses={201: DkimWriteResultSerializer, 200: DryRunSerializer},
    description="Generate a key (RSA) where the mail server's DKIM signer reads it; an existing key for the "
    "selector is replaced only with force (409 otherwise).",
)
@api_view(["GET", "POST", "DELETE"])
def domain_dkim(request: Request, domain: str) -> Response:
    found = _find(request, domain)
    if found is None:
        return _not_found(domain)
    if request.method == "DELETE":
        return _dkim_delete(request, found.name, None)
    if request.method == "GET":
        key = domains.dkim_get(found.name)
        if key is None:
            return error_response(
                f"{found.name} has no DKIM key yet; POST to this address to generate one.", status.HTTP_404_NOT_FOUND
            )
        return Response(_dkim_data(key))
    serializer = DkimGenerateSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    saved = domains.dkim_generate(
        domain=found.name,
        selector=data["selector"],
        bits=int(data["bits"]),
        force=data["force"],
        actor=api_actor(request),
        dry_run=is_dry_run(request),
    )
    payload = change_payload(saved.result, saved.outcome)
    if saved.outcome is None:
        return Response(payload)
    return Response({**_dkim_data(saved.key), **payload}, status=status.HTTP_201_CREATED)


@domain_scoped
@extend_schema(methods=["GET"], responses=DkimSerializer, operation_id="domains_dkim_selector_retrieve")
@extend_schema(
    methods=["DELETE"],
    parameters=[DRY_RUN],
    responses={200: DkimWriteResultSerializer},
    operation_id="domains_dkim_selector_destroy",
    description="Delete the domain's key with this selector, signing or not.",
)
@api_view(["GET", "DELETE"])
def domain_dkim_selector(request: Request, domain: str, selector: str) -> Response:
    found = _find(request, domain)
    if found is None:
        return _not_found(domain)
    if request.method == "DELETE":
        return _dkim_delete(request, found.name, selector)
    key = domains.dkim_get(found.name, selector)
    if key is None:
        return error_response(f"{found.name} has no DKIM key with the selector {selector}.", status.HTTP_404_NOT_FOUND)
    return Response(_dkim_data(key))


def _dkim_delete(request: Request, domain: str, selector: str | None) -> Response:
    if domains.dkim_get(domain, selector) is None:  # a bad selector is a 400 (FieldError) from here
        which = f" with the selector {selector}" if selector else ""
        return error_response(f"{domain} has no DKIM key{which}.", status.HTTP_404_NOT_FOUND)
    saved = domains.dkim_delete(domain=domain, selector=selector, actor=api_actor(request), dry_run=is_dry_run(request))
    payload = change_payload(saved.result, saved.outcome)
    if saved.outcome is None:
        return Response(payload)
    return Response({**_dkim_data(saved.key), **payload})
