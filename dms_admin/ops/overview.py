"""Home: the server at a glance, built from the health report (the same checks as /health/, the
API and /metrics), with a red/amber/green verdict and the first thing to fix."""

from __future__ import annotations

import dataclasses
import re

from dms_admin.configstore import (
    get_store,
)
from dms_admin.ops.health import OK, Check, HealthReport, Program, health_report_cached
from dms_admin.plain import Problem, explain

# The services an admin asks about first, in DMS's supervisor program names.
KEY_SERVICES = (
    ("postfix", "Postfix"),
    ("dovecot", "Dovecot"),
    ("amavis", "Amavis"),
    ("rspamd", "Rspamd"),
    ("clamav", "ClamAV"),
    ("fail2ban", "Fail2ban"),
    ("opendkim", "OpenDKIM"),
    ("opendmarc", "OpenDMARC"),
)
CHECK_GROUPS = {
    "storage": ("disk-mail", "disk-state", "config"),
    "mail": ("mail-data", "queue", "dns"),
    "jobs": ("backup", "training", "redis", "workers"),
}


@dataclasses.dataclass(frozen=True)
class Service:
    name: str
    state: str  # up | down | starting | off
    detail: str


@dataclasses.dataclass(frozen=True)
class Overview:
    report: HealthReport
    status: str  # ok | warn | error
    first: Check | None  # the first thing to fix
    more: int  # how many other checks are not ok
    problem: Problem | None  # the container unreachable, in plain words
    services: list[Service]
    checks: dict[str, Check]

    def group(self, name: str) -> list[Check]:
        return [self.checks[i] for i in CHECK_GROUPS[name] if i in self.checks]


def services_of(programs: list[Program]) -> list[Service]:
    by_name = {p.name: p for p in programs}
    out = []
    for program, label in KEY_SERVICES:
        found = by_name.get(program)
        if found is None or not found.expected:
            if program in ("postfix", "dovecot") or found is not None:
                out.append(Service(label, "off", "not enabled"))
            continue
        state = {"RUNNING": "up", "STARTING": "starting"}.get(found.state, "down")
        out.append(Service(label, state, found.detail if state != "up" else ""))
    return out


def server_overview() -> Overview:
    report = health_report_cached()
    worst = report.status
    not_ok = [c for c in report.checks if c.status != OK]
    first = next((c for c in not_ok if c.status == worst), None)
    return Overview(
        report=report,
        status=worst,
        first=first,
        more=len(not_ok) - (1 if first else 0),
        problem=explain(report.container_error) if report.container_error else None,
        services=services_of(report.programs) if report.programs else [],
        checks={c.id: c for c in report.checks},
    )


def needs_first_mailbox() -> bool:
    """DMS (FILE provisioner, not SMTP_ONLY) stops about two minutes after starting without one."""
    from dms_admin.envfile import parse_env

    store = get_store()
    env = parse_env(store.read("mailserver.env"))
    if env.get("SMTP_ONLY") == "1" or env.get("ACCOUNT_PROVISIONER", "FILE") not in ("", "FILE"):
        return False
    return re.search(r"^[ \t]*[^#\s][^|\n]*@[^|\n]+\|", store.read("postfix-accounts.cf"), re.MULTILINE) is None
