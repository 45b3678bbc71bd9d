"""Reading the mail container's logs: tail, filter, and the known errors in them."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from django.utils import timezone

from dms_admin.dms import MailServer, get_mailserver
from dms_admin.errors import FieldError
from dms_admin.ops import logscan

DEFAULT_TAIL = 2000
MAX_TAIL = 20000
# Lines shown at most; the known errors are counted over every line read.
MAX_SHOWN = 1000


@dataclasses.dataclass(frozen=True)
class LogView:
    lines: list[logscan.LogLine]  # matching lines, oldest first, the newest MAX_SHOWN
    matched: int  # matching lines before cutting to MAX_SHOWN
    read: int  # lines read from the engine
    findings: list[logscan.Finding]  # known errors among the matching lines
    since: datetime | None
    service: str
    search: str


def logs_since(value: str) -> datetime | None:
    """The `since` parameter as a time; FieldError when it is none of the accepted forms."""
    try:
        return logscan.parse_since(value, now=timezone.now())
    except ValueError as exc:
        raise FieldError("since", str(exc)) from exc


def logs_read(
    *,
    since: datetime | None = None,
    service: str = "",
    search: str = "",
    tail: int = DEFAULT_TAIL,
    mailserver: MailServer | None = None,
) -> LogView:
    if service and service not in logscan.SERVICES:
        raise FieldError("service", f"Unknown service {service!r}; one of: {', '.join(logscan.SERVICES)}.")
    if not 1 <= tail <= MAX_TAIL:
        raise FieldError("tail", f"tail must be between 1 and {MAX_TAIL}.")
    if len(search) > 200:
        raise FieldError("search", "Search for at most 200 characters.")
    mailserver = mailserver or get_mailserver()
    lines = logscan.parse_lines(mailserver.logs(since=since, tail=tail))
    matching = logscan.filter_lines(lines, service=service, search=search)
    return LogView(
        lines=matching[-MAX_SHOWN:],
        matched=len(matching),
        read=len(lines),
        findings=logscan.findings(matching),
        since=since,
        service=service,
        search=search,
    )
