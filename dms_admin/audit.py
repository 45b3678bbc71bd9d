"""Who acted, and the audit trail of what they did."""

from __future__ import annotations

import contextlib
import contextvars
import csv
import dataclasses
import datetime
import functools
import ipaddress
import itertools
import logging
from collections.abc import Iterator

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from dms_admin.errors import FieldError
from dms_admin.models import AuditEntry

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Actor:
    name: str
    via: str = AuditEntry.Via.PANEL
    ip: str | None = None

    @classmethod
    def from_request(cls, request: HttpRequest, via: str = AuditEntry.Via.PANEL) -> Actor:
        user = getattr(request, "user", None)
        name = user.get_username() if user is not None and user.is_authenticated else "anonymous"
        return cls(name=name, via=via, ip=client_ip(request))


SYSTEM = Actor(name="dms-admin", via=AuditEntry.Via.JOB)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or behind our own TLS proxy what that proxy forwarded.

    gunicorn leaves REMOTE_ADDR as the proxy's address. X-Forwarded-For is the client's word
    except for the entries our proxies appended, so it counts only when the peer is one of
    TRUSTED_PROXIES, and then the right-most entry that is not one of them is the client.
    """
    peer = request.META.get("REMOTE_ADDR") or None
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not peer or not forwarded or not settings.BEHIND_TLS:
        return peer
    if not _trusted_proxy(peer):
        _warn_untrusted_proxy(peer)
        return peer
    for hop in reversed(forwarded.split(",")):
        try:
            address = str(ipaddress.ip_address(hop.strip()))
        except ValueError:
            return peer  # not what a proxy writes: believe none of it
        if not _trusted_proxy(address):
            return address
    return peer


_warned: set[str] = set()


def _warn_untrusted_proxy(peer: str) -> None:
    # Behind a proxy missing from FORWARDED_ALLOW_IPS every client shares its address, and so its
    # sign-in throttle: say so once per peer and process.
    if peer not in _warned and len(_warned) < 16:
        _warned.add(peer)
        log.warning("X-Forwarded-For from %s ignored: add your reverse proxy to FORWARDED_ALLOW_IPS", peer)


def _trusted_proxy(address: str) -> bool:
    proxies = tuple(settings.TRUSTED_PROXIES)
    if "*" in proxies:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(proxies))


@functools.lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(entry, strict=False) for entry in proxies if entry != "*"]


def audit_filter(
    entries: QuerySet[AuditEntry], *, actor: str = "", action: str = "", object: str = "", since: str = ""
) -> QuerySet[AuditEntry]:
    """The audit log narrowed by actor, action prefix, object text and a start date (YYYY-MM-DD)."""
    if actor:
        entries = entries.filter(actor=actor)
    if action:
        entries = entries.filter(action__startswith=action)
    if object:
        entries = entries.filter(object__icontains=object)
    if since:
        try:
            moment = parse_datetime(since) if "T" in since else None
            day = moment.date() if moment else parse_date(since)
        except ValueError:
            day = None
        if day is None:
            raise FieldError("since", "Give the date as YYYY-MM-DD.")
        entries = entries.filter(at__date__gte=day)
    return entries


def audit_csv(entries: QuerySet[AuditEntry]) -> StreamingHttpResponse:
    """The (filtered) log as CSV, streamed so a long history needs no memory."""

    class Echo:
        def write(self, value: str) -> str:
            return value

    writer = csv.writer(Echo())
    header = ["at", "actor", "via", "ip", "action", "object", "commit"]
    rows = (
        writer.writerow([e.at.isoformat(), e.actor, e.via, e.ip or "", e.action, _csv_safe(e.object), e.commit])
        for e in entries.iterator()
    )
    response = StreamingHttpResponse(itertools.chain([writer.writerow(header)], rows), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="dms-admin-audit.csv"'
    return response


def _csv_safe(value: str) -> str:
    # A cell starting with = + - @ is a formula to spreadsheets: keep it text.
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


# Set per request by ApiCallAuditMiddleware: whether the request has written an audit row yet.
_request_audited: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar("request_audited", default=None)

API_CALL = "api.call"


def audit_record(*, actor: Actor, action: str, object: str = "", commit: str = "", detail: str = "") -> AuditEntry:
    audited = _request_audited.get()
    if audited is not None:
        audited[0] = True
    return AuditEntry.objects.create(
        actor=actor.name,
        via=actor.via,
        ip=actor.ip,
        action=action,
        object=object[:300],
        commit=commit or "",
        detail=detail,
    )


@contextlib.contextmanager
def request_audit_watch() -> Iterator[list[bool]]:
    """Within it, `audited[0]` turns True once anything is audited (the API-call middleware asks)."""
    audited = [False]
    reset = _request_audited.set(audited)
    try:
        yield audited
    finally:
        _request_audited.reset(reset)


def audit_api_call(request: HttpRequest, *, token_name: str, detail: str) -> AuditEntry:
    """The `api.call` row of a call made with the token `token_name`: method, path, outcome."""
    return audit_record(
        actor=Actor(name=f"token:{token_name}", via=AuditEntry.Via.API, ip=client_ip(request)),
        action=API_CALL,
        object=f"{request.method} {request.get_full_path()}"[:300],
        detail=detail,
    )


def forget_old_api_calls() -> int:
    """Drop `api.call` rows (reads: a poller makes thousands a day) after AUDIT_API_CALL_DAYS;
    rows of changes stay."""
    cutoff = timezone.now() - datetime.timedelta(days=settings.AUDIT_API_CALL_DAYS)
    deleted, _ = AuditEntry.objects.filter(action=API_CALL, at__lt=cutoff).delete()
    return deleted
