"""Backup → live progress → verify → restore preview, in a real Chromium."""

from __future__ import annotations

from pathlib import Path

import django_rq
import pytest
from django_rq import get_worker

from backups.models import BackupArchive, BackupPolicy
from conftest import sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def run_jobs_soon() -> None:
    # The page is already polling the queued job; the worker runs now and htmx swaps the outcome in.
    get_worker("backups", worker_class="rq.worker.SimpleWorker").work(burst=True)


def test_backup_progress_verify_and_restore_preview(
    browser_page,
    live_server,
    superadmin,
    policy: BackupPolicy,
    mail_dir: Path,
    settings,
    redis_url,
) -> None:  # type: ignore[no-untyped-def]
    settings.RQ_QUEUES = {name: {"URL": redis_url, "DEFAULT_TIMEOUT": 600} for name in ("default", "backups")}
    django_rq.get_queue("backups").empty()
    page = browser_page
    sign_in(page, live_server.url + "/backups/")
    page.wait_for_selector("h1:has-text('Backups')")
    page.click("button:has-text('Run now')")
    page.wait_for_selector("h1:has-text('Job: backup')")
    assert page.locator("progress").count() == 1
    page.wait_for_selector(".badge.queued")
    run_jobs_soon()
    page.wait_for_selector(".badge.succeeded", timeout=20_000)  # htmx polling swapped the progress in
    assert page.locator("progress").get_attribute("value") == "100"

    page.goto(live_server.url + "/backups/archives/")
    page.wait_for_selector("td:has-text('full')")
    page.click("button:has-text('Verify')")
    page.wait_for_selector("h1:has-text('Job: verify')")
    run_jobs_soon()
    page.wait_for_selector(".badge.succeeded", timeout=20_000)
    assert BackupArchive.objects.get().verified_at is not None

    (mail_dir / "example.test" / "user" / "dovecot-uidlist").write_text("changed")
    page.goto(live_server.url + "/backups/archives/")
    page.click("text=Restore…")
    page.select_option("#id_scope", "mailbox")
    page.fill("#id_mailbox", "user@example.test")
    page.click("button:has-text('Preview')")
    page.wait_for_selector(".restore-preview code:has-text('mail/example.test/user/dovecot-uidlist')")
    assert "1 to overwrite" in page.locator(".restore-preview").inner_text()
    assert (mail_dir / "example.test" / "user" / "dovecot-uidlist").read_text() == "changed"
