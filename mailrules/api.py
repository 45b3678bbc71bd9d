"""REST endpoints for a mailbox's vacation reply, forwarding and raw Sieve script (api.md)."""

from __future__ import annotations

import dataclasses
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from access.api_auth import allowed_domain, api_actor
from access.roles import domain_scoped
from accounts.services import Saved, mailbox_get
from dms_admin.api.errors import error_response
from dms_admin.api.serializers import DRY_RUN, ChangeResultSerializer, TextField, change_payload, is_dry_run
from dms_admin.mailnames import address_key
from mailrules import services, sieve
from mailrules.sieve import Vacation


class VacationSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    start = serializers.DateField(required=False, allow_null=True, help_text="First day it answers (YYYY-MM-DD)")
    end = serializers.DateField(required=False, allow_null=True, help_text="Last day it answers (YYYY-MM-DD)")
    timezone = TextField(
        max_length=64, required=False, allow_blank=True, help_text="IANA name the dates are in; empty: the server's"
    )
    subject = TextField(max_length=sieve.MAX_SUBJECT, required=False, allow_blank=True)
    text = TextField(max_length=sieve.MAX_TEXT, required=False, allow_blank=True, trim_whitespace=False)
    days = serializers.IntegerField(min_value=1, max_value=sieve.MAX_DAYS, default=7, help_text="Reply interval")
    addresses = serializers.ListField(
        child=TextField(max_length=320),
        required=False,
        max_length=100,
        help_text="Addresses it answers for besides the mailbox; empty or left out: the mailbox's aliases",
    )


class ForwardingSerializer(serializers.Serializer):
    targets = serializers.ListField(child=TextField(max_length=320), max_length=services.MAX_FORWARDS)
    keep_copy = serializers.BooleanField(default=True, help_text="Keep a copy in this mailbox")


class FilterSerializer(serializers.Serializer):
    field = serializers.ChoiceField(choices=sieve.FIELDS, help_text='"header": the header named in `header`')
    header = TextField(max_length=64, required=False, allow_blank=True, default="")
    match = serializers.ChoiceField(choices=sieve.MATCHES, help_text='"matches" takes * and ? wildcards')
    value = TextField(max_length=sieve.MAX_VALUE)
    action = serializers.ChoiceField(
        choices=sieve.ACTIONS,
        help_text="fileinto: move to the folder `argument`; seen: mark read; discard; "
        "redirect: forward a copy to the address `argument`",
    )
    argument = TextField(max_length=sieve.MAX_VALUE, required=False, allow_blank=True, default="")


class FiltersSerializer(serializers.Serializer):
    filters = serializers.ListField(child=FilterSerializer(), max_length=sieve.MAX_FILTERS)


class ScriptSerializer(serializers.Serializer):
    text = TextField(max_length=services.MAX_SCRIPT, allow_blank=True, trim_whitespace=False)


class ProblemSerializer(serializers.Serializer):
    line = serializers.IntegerField(allow_null=True)
    message = serializers.CharField()


class ScriptStateSerializer(serializers.Serializer):
    text = serializers.CharField(help_text="The whole active script, our marked region included")
    hand_written = serializers.CharField(help_text="The part outside the dashboard's region, kept as it is")
    managesieve_link = serializers.BooleanField(help_text="The active script is a ManageSieve client's")


class ValidateResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    problems = ProblemSerializer(many=True)


def _mailbox(request: Request, address: str) -> str | None:
    mailbox = mailbox_get(address=address_key(address))
    if mailbox is None or not allowed_domain(request, mailbox.domain):
        return None  # another domain's mailbox is not even there for a limited token
    return mailbox.address


def _missing(address: str) -> Response:
    return error_response(f"There is no mailbox {address}.", status.HTTP_404_NOT_FOUND)


def _vacation_data(state: services.MailboxRules) -> dict[str, Any]:
    v = state.rules.vacation
    return {
        "enabled": v.enabled,
        "start": v.start.isoformat() if v.start else None,
        "end": v.end.isoformat() if v.end else None,
        "timezone": v.timezone,
        "subject": v.subject,
        "text": v.text,
        "days": v.days,
        "addresses": list(v.addresses),
    }


def _vacation_of(data: dict[str, Any]) -> Vacation:
    return Vacation(
        enabled=data["enabled"],
        start=data.get("start"),
        end=data.get("end"),
        timezone=data.get("timezone", ""),
        subject=data.get("subject", ""),
        text=data.get("text", ""),
        days=data["days"],
        addresses=tuple(data.get("addresses", ())),
    )


def _answer(address: str, data: Any, saved: Saved) -> Response:
    return Response({**data(services.rules_get(address=address)), **change_payload(saved.result, saved.outcome)})


@domain_scoped
@extend_schema(methods=["GET"], responses=VacationSerializer)
@extend_schema(methods=["PUT"], request=VacationSerializer, parameters=[DRY_RUN], responses=ChangeResultSerializer)
@extend_schema(methods=["DELETE"], parameters=[DRY_RUN], responses={200: ChangeResultSerializer})
@api_view(["GET", "PUT", "DELETE"])
def vacation(request: Request, address: str) -> Response:
    found = _mailbox(request, address)
    if found is None:
        return _missing(address)
    if request.method == "GET":
        return Response(_vacation_data(services.rules_get(address=found)))
    wanted = Vacation()
    if request.method == "PUT":
        body = VacationSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        wanted = _vacation_of(body.validated_data)
    saved = services.vacation_save(
        address=found, vacation=wanted, actor=api_actor(request), dry_run=is_dry_run(request)
    )
    return _answer(found, _vacation_data, saved)


def _forwarding_data(state: services.MailboxRules) -> dict[str, Any]:
    return {"targets": list(state.rules.forward_to), "keep_copy": state.rules.keep_copy}


@domain_scoped
@extend_schema(methods=["GET"], responses=ForwardingSerializer)
@extend_schema(methods=["PUT"], request=ForwardingSerializer, parameters=[DRY_RUN], responses=ChangeResultSerializer)
@extend_schema(methods=["DELETE"], parameters=[DRY_RUN], responses={200: ChangeResultSerializer})
@api_view(["GET", "PUT", "DELETE"])
def forwarding(request: Request, address: str) -> Response:
    found = _mailbox(request, address)
    if found is None:
        return _missing(address)
    if request.method == "GET":
        return Response(_forwarding_data(services.rules_get(address=found)))
    targets, keep_copy = [], True
    if request.method == "PUT":
        body = ForwardingSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        targets, keep_copy = body.validated_data["targets"], body.validated_data["keep_copy"]
    actor, dry_run = api_actor(request), is_dry_run(request)
    saved = services.forwarding_save(address=found, targets=targets, keep_copy=keep_copy, actor=actor, dry_run=dry_run)
    return _answer(found, _forwarding_data, saved)


def _filters_data(state: services.MailboxRules) -> dict[str, Any]:
    return {"filters": [dataclasses.asdict(f) for f in state.rules.filters]}


@domain_scoped
@extend_schema(methods=["GET"], responses=FiltersSerializer)
@extend_schema(
    methods=["PUT"],
    request=FiltersSerializer,
    parameters=[DRY_RUN],
    responses=ChangeResultSerializer,
    description="All the mailbox's filters, in order (an empty list removes them). They run after the "
    "vacation reply and forwarding, and never stop the hand-written rules after them.",
)
@api_view(["GET", "PUT"])
def filters(request: Request, address: str) -> Response:
    found = _mailbox(request, address)
    if found is None:
        return _missing(address)
    if request.method == "GET":
        return Response(_filters_data(services.rules_get(address=found)))
    body = FiltersSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    wanted = [sieve.Filter(**one) for one in body.validated_data["filters"]]
    saved = services.filters_save(address=found, filters=wanted, actor=api_actor(request), dry_run=is_dry_run(request))
    return _answer(found, _filters_data, saved)


def _script_data(state: services.MailboxRules) -> dict[str, Any]:
    return {"text": state.script, "hand_written": state.hand_written, "managesieve_link": state.linked}


@domain_scoped
@extend_schema(methods=["GET"], responses=ScriptStateSerializer)
@extend_schema(
    methods=["PUT"],
    request=ScriptSerializer,
    parameters=[DRY_RUN],
    responses=ChangeResultSerializer,
    description="The whole script, compiled by the mail container's sievec first: 400 with its line numbers "
    "in `problems` when it does not compile, and nothing is written. An empty text removes the script.",
)
@api_view(["GET", "PUT"])
def script(request: Request, address: str) -> Response:
    found = _mailbox(request, address)
    if found is None:
        return _missing(address)
    if request.method == "GET":
        return Response(_script_data(services.rules_get(address=found)))
    body = ScriptSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    try:
        saved = services.script_save(
            address=found, script=body.validated_data["text"], actor=api_actor(request), dry_run=is_dry_run(request)
        )
    except services.ScriptInvalid as refused:
        return _refused(refused)
    return _answer(found, _script_data, saved)


def _refused(refused: services.ScriptInvalid) -> Response:
    response = error_response(
        refused.message, status.HTTP_400_BAD_REQUEST, {"text": [str(p) for p in refused.problems]}
    )
    response.data["problems"] = ProblemSerializer(refused.problems, many=True).data
    return response


@domain_scoped
@extend_schema(request=ScriptSerializer, responses=ValidateResultSerializer)
@api_view(["POST"])
def script_validate(request: Request, address: str) -> Response:
    if _mailbox(request, address) is None:
        return _missing(address)
    body = ScriptSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    problems = services.script_check(script=body.validated_data["text"].replace("\r\n", "\n"))
    return Response({"ok": not problems, "problems": ProblemSerializer(problems, many=True).data})
