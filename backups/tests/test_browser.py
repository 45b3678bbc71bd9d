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


def test_encrypted_backup_pages_and_a_restore_with_the_key_at_desktop_and_phone_width(
    browser_page, live_server, superadmin, policy: BackupPolicy, mail_dir: Path, settings, redis_url, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    import os
    import shutil
    import subprocess

    from backups import services
    from backups.tests.conftest import snapshot
    from dms_admin.audit import Actor

    if not shutil.which("age-keygen"):
        pytest.skip("the age CLI is not installed (scripts/provision.sh test installs it)")
    settings.RQ_QUEUES = {name: {"URL": redis_url, "DEFAULT_TIMEOUT": 600} for name in ("default", "backups")}
    django_rq.get_queue("backups").empty()
    shots = Path(os.environ.get("DMS_ADMIN_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    key_text = subprocess.run(["age-keygen"], check=True, capture_output=True, text=True).stdout
    public = next(line.split(": ")[1] for line in key_text.splitlines() if line.startswith("# public key: "))
    secret = next(line for line in key_text.splitlines() if line.startswith("AGE-SECRET-KEY-1"))
    admin = Actor(name="admin")
    services.policy_create(
        actor=admin, name="plain-nightly", include_mail=True, destination=policy.destination, cron="0 4 * * *"
    )
    services.policy_update(policy=policy, actor=admin, age_recipient=public)
    archive = services.backup_run(policy_id=policy.pk)
    before = snapshot(mail_dir)
    shutil.rmtree(mail_dir / "example.test" / "user" / ".Sent")

    page = browser_page
    sign_in(page, live_server.url + "/backups/")
    pages = {
        "policies": "/backups/",
        "policy-new": "/backups/policies/new/",
        "policy-encrypted": f"/backups/policies/{policy.pk}/",
        "archives": "/backups/archives/",
        "verify": f"/backups/archives/{archive.pk}/verify/",
        "restore": f"/backups/archives/{archive.pk}/restore/?scope=mailbox&mailbox=user%40example.test",
    }
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        for name, url in pages.items():
            page.goto(live_server.url + url)
            page.wait_for_selector("h1")
            assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
            page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
    assert page.locator("#id_identity").get_attribute("type") == "password"
    assert page.locator("#id_identity").get_attribute("autocomplete") == "off"
    page.fill("#id_identity", secret)
    page.click("button:has-text('Restore now')")
    page.wait_for_selector("h1:has-text('Job: restore')")
    run_jobs_soon()
    page.wait_for_selector(".badge.succeeded", timeout=20_000)
    assert snapshot(mail_dir) == before
