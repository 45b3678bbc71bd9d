"""`/metrics` for Prometheus: a few gauges, in the text exposition format (no extra library)."""

from __future__ import annotations

import contextlib
import hmac

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from dms_admin.jobqueue import rq_queue
from dms_admin.ops.health import RANK, health_report_cached


def _gauges() -> list[tuple[str, str, float]]:
    """The health report's facts as numbers: one source for home, /health/ and /metrics."""
    report = health_report_cached()
    out = [gauge for check in report.checks for gauge in check.gauges]
    with contextlib.suppress(Exception):  # Redis down: leave the queue gauges out
        for name in settings.RQ_QUEUES:
            out.append((f'dms_admin_queue_jobs{{queue="{name}"}}', "Jobs waiting in an RQ queue", len(rq_queue(name))))
    healthy = 1 if report.container is not None and report.container.healthy else 0
    out.append(("dms_admin_mailserver_healthy", "1 if the mail container runs and is healthy", healthy))
    out.append(("dms_admin_health_status", "Worst check: 0 ok, 1 warn, 2 error", RANK[report.status]))
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
