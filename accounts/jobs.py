from __future__ import annotations

from django.urls import reverse

from accounts import domains, services
from dms_admin.audit import Actor
from dms_admin.jobkinds import has_stop_points
from dms_admin.jobqueue import job_running


@has_stop_points("mailbox-purge")
def mailbox_purge_job(run_id: str, address: str) -> None:
    with job_running(run_id) as report:
        report.progress(10, f"Removing the mail of {address}")
        report.stop_point()  # the last moment a stop leaves the mail as it was
        removed = services.mailbox_purge(address=address)
        report.set_result(address=address, removed=removed)
        report.progress(100, "Mail folder removed." if removed else "There was no mail folder.")


@has_stop_points("dkim")
def dkim_generate_job(
    run_id: str, domain: str, selector: str, bits: int, force: bool, actor: str, ip: str | None
) -> None:
    with job_running(run_id) as report:
        saved = domains.dkim_generate(
            domain=domain, selector=selector, bits=bits, force=force, actor=Actor(actor, ip=ip), report=report
        )
        link = reverse("domains:domain-detail", args=[domain])
        report.set_result(domain=domain, selector=selector, bits=bits, commit=saved.result.sha, link=link)
        report.set_result(link_text=f"Back to {domain}: the TXT record to publish")
        outcome = saved.outcome.message if saved.outcome else ""
        report.progress(100, f"DKIM key {selector} generated. {outcome}".strip())
