from __future__ import annotations

from accounts import services
from dms_admin.jobqueue import job_running


def mailbox_purge_job(run_id: str, address: str) -> None:
    with job_running(run_id) as report:
        report.progress(10, f"Removing the mail of {address}")
        removed = services.mailbox_purge(address=address)
        report.set_result(address=address, removed=removed)
        report.progress(100, "Mail folder removed." if removed else "There was no mail folder.")
