"""Who acted, and the audit trail of what they did."""

from __future__ import annotations

import dataclasses

from django.http import HttpRequest

from dms_admin.models import AuditEntry


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
    # REMOTE_ADDR only: X-Forwarded-For is whatever the client says unless a proxy we trust
    # rewrites it, and gunicorn's forwarded_allow_ips already maps it into REMOTE_ADDR then.
    return request.META.get("REMOTE_ADDR") or None


def audit_record(*, actor: Actor, action: str, object: str = "", commit: str = "", detail: str = "") -> AuditEntry:
    return AuditEntry.objects.create(
        actor=actor.name,
        via=actor.via,
        ip=actor.ip,
        action=action,
        object=object[:300],
        commit=commit or "",
        detail=detail,
    )
