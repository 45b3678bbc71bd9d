"""REST endpoints for relays (passwords write-only) and send/receive restrictions."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from access.api_auth import allowed_domain, api_actor
from access.roles import superadmin_required
from accounts import relays
from accounts.services import Saved
from dms_admin.api.errors import error_response
from dms_admin.api.serializers import (
    DRY_RUN,
    ChangeResultSerializer,
    ChangeSerializer,
    TextField,
    change_payload,
    is_dry_run,
)


class RelaySerializer(serializers.Serializer):
    domain = TextField(max_length=253)
    host = TextField(max_length=253, allow_blank=True, help_text="Empty: exclude the domain from RELAY_HOST")
    port = serializers.IntegerField(min_value=1, max_value=65535, default=25)
    username = TextField(max_length=254, required=False, allow_blank=True, default="")
    password = TextField(
        max_length=1024, required=False, write_only=True, trim_whitespace=False, help_text="Write-only; omit to keep"
    )


class RelayResultSerializer(serializers.Serializer):
    domain = serializers.CharField()
    host = serializers.CharField()
    port = serializers.IntegerField(allow_null=True)
    username = serializers.CharField()
    has_password = serializers.BooleanField()
    change = ChangeSerializer(required=False)


class RestrictionSerializer(serializers.Serializer):
    address = TextField(max_length=320)
    direction = serializers.ChoiceField(choices=["send", "receive"])


def _relay_data(relay: relays.Relay) -> dict[str, Any]:
    return {
        "domain": relay.domain,
        "host": relay.host,
        "port": relay.port,
        "username": relay.username,
        "has_password": relay.has_password,
    }


def _save(request: Request, data: dict[str, Any]) -> Saved:
    return relays.relay_save(
        domain=data["domain"],
        host=data["host"],
        port=data["port"],
        username=data.get("username", ""),
        password=data.get("password"),
        actor=api_actor(request),
        dry_run=is_dry_run(request),
    )


@extend_schema(methods=["GET"], responses=RelayResultSerializer(many=True))
@extend_schema(methods=["POST"], request=RelaySerializer, parameters=[DRY_RUN], responses={201: RelayResultSerializer})
@superadmin_required
@api_view(["GET", "POST"])
def relay_list(request: Request) -> Response:
    if request.method == "GET":
        return Response([_relay_data(r) for r in relays.relay_list() if allowed_domain(request, r.domain)])
    serializer = RelaySerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    if not allowed_domain(request, serializer.validated_data["domain"].strip().lower()):
        return error_response(
            "This token may not manage that domain.", status.HTTP_403_FORBIDDEN, {"domain": ["not allowed"]}
        )
    if relays.relay_get(domain=serializer.validated_data["domain"]):
        return error_response(
            "A relay for this domain exists; PUT to change it.", status.HTTP_409_CONFLICT, {"domain": ["exists"]}
        )
    saved = _save(request, serializer.validated_data)
    if saved.outcome is None:
        return Response(change_payload(saved.result, None))
    relay = relays.relay_get(domain=serializer.validated_data["domain"])
    assert relay is not None
    return Response(
        {**_relay_data(relay), **change_payload(saved.result, saved.outcome)}, status=status.HTTP_201_CREATED
    )


@extend_schema(methods=["GET"], responses=RelayResultSerializer)
@extend_schema(methods=["PUT"], request=RelaySerializer, parameters=[DRY_RUN], responses=RelayResultSerializer)
@extend_schema(methods=["DELETE"], parameters=[DRY_RUN], responses={200: ChangeResultSerializer})
@superadmin_required
@api_view(["GET", "PUT", "DELETE"])
def relay_detail(request: Request, domain: str) -> Response:
    relay = relays.relay_get(domain=domain)
    if relay is None or not allowed_domain(request, relay.domain):
        return error_response(f"There is no relay for {domain}.", status.HTTP_404_NOT_FOUND)
    if request.method == "GET":
        return Response(_relay_data(relay))
    if request.method == "DELETE":
        saved = relays.relay_delete(domain=relay.domain, actor=api_actor(request), dry_run=is_dry_run(request))
        return Response(change_payload(saved.result, saved.outcome))
    # Not a JSON object (a list, a string): the serializer refuses it with a 400, as it does on create.
    data = {**request.data, "domain": relay.domain} if isinstance(request.data, dict) else request.data
    serializer = RelaySerializer(data=data)
    serializer.is_valid(raise_exception=True)
    saved = _save(request, serializer.validated_data)
    updated = relays.relay_get(domain=relay.domain) or relay
    return Response({**_relay_data(updated), **change_payload(saved.result, saved.outcome)})


@extend_schema(methods=["GET"], responses=RestrictionSerializer(many=True))
@extend_schema(
    methods=["POST"],
    request=RestrictionSerializer,
    parameters=[DRY_RUN],
    responses={201: ChangeResultSerializer, 200: ChangeResultSerializer},
)
@extend_schema(
    methods=["DELETE"], request=RestrictionSerializer, parameters=[DRY_RUN], responses={200: ChangeResultSerializer}
)
@superadmin_required
@api_view(["GET", "POST", "DELETE"])
def restriction_list(request: Request) -> Response:
    if request.method == "GET":
        rows = [r for r in relays.restriction_list() if allowed_domain(request, r.address.rpartition("@")[2].lower())]
        return Response([{"address": r.address, "direction": r.direction, "action": r.action} for r in rows])
    serializer = RestrictionSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    if not allowed_domain(request, data["address"].rpartition("@")[2].strip().lower()):
        return error_response(
            "This token may not manage that domain.", status.HTTP_403_FORBIDDEN, {"address": ["not allowed"]}
        )
    operation = relays.restriction_add if request.method == "POST" else relays.restriction_delete
    saved = operation(
        address=data["address"], direction=data["direction"], actor=api_actor(request), dry_run=is_dry_run(request)
    )
    code = status.HTTP_201_CREATED if request.method == "POST" and saved.outcome else status.HTTP_200_OK
    return Response(change_payload(saved.result, saved.outcome), status=code)
