"""`/metrics` for Prometheus: a few gauges, in the text exposition format (no extra library)."""

from __future__ import annotations

import contextlib
import hmac

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from dms_admin.dms import DockerUnavailable, get_mailserver
from dms_admin.models import JobRun, PendingChange


def _gauges() -> list[tuple[str, str, float]]:
    from accounts.services import alias_list, mailbox_list

    mailboxes = mailbox_list()
    domains = {m.domain for m in mailboxes} | {a.domain for a in alias_list()}
    out: list[tuple[str, str, float]] = [
        ("dms_admin_mailboxes", "Mailboxes in postfix-accounts.cf", len(mailboxes)),
        ("dms_admin_domains", "Domains with a mailbox or an alias", len(domains)),
        (
            "dms_admin_pending_changes",
            "Saved changes the mail container does not use yet",
            PendingChange.objects.count(),
        ),
    ]
    for kind in ("backup", "training"):
        last = JobRun.objects.filter(kind=kind).exclude(finished_at=None).order_by("-finished_at").first()
        age = (timezone.now() - last.finished_at).total_seconds() if last and last.finished_at else -1
        ok = 1 if last and last.status == JobRun.Status.SUCCEEDED else 0
        out += [
            (f"dms_admin_last_{kind}_age_seconds", f"Seconds since the last {kind} finished (-1: never)", age),
            (f"dms_admin_last_{kind}_succeeded", f"1 if the last {kind} succeeded", ok),
        ]
    with contextlib.suppress(Exception):  # Redis down: leave the queue gauges out
        import django_rq

        for name in settings.RQ_QUEUES:
            out.append(
                (
                    f'dms_admin_queue_jobs{{queue="{name}"}}',
                    "Jobs waiting in an RQ queue",
                    len(django_rq.get_queue(name)),
                )
            )
    healthy = 0
    with contextlib.suppress(DockerUnavailable):
        healthy = 1 if get_mailserver().status().healthy else 0
    out.append(("dms_admin_mailserver_healthy", "1 if the mail container runs and is healthy", healthy))
    return out


@login_not_required
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not token:
        raise Http404("Set METRICS_TOKEN to turn /metrics on.")
    if not hmac.compare_digest(given.encode(), token.encode()):
        return HttpResponse(
            "Unauthorized\n", status=401, content_type="text/plain", headers={"WWW-Authenticate": "Bearer"}
        )
    lines: list[str] = []
    for name, text, value in _gauges():
        base = name.split("{", 1)[0]
        if f"# HELP {base} " not in "".join(lines):
            lines += [f"# HELP {base} {text}\n", f"# TYPE {base} gauge\n"]
        lines.append(f"{name} {value:g}\n")
    return HttpResponse("".join(lines), content_type="text/plain; version=0.0.4")
