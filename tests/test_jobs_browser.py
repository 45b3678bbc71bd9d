"""The job monitor in a real Chromium: every job kind, live progress, stop, cancel and retry.

Jobs run on the real Redis in a real RQ worker (in a thread of this process, so the page can be
watched and clicked while they run), against the real test mail container.
"""

from __future__ import annotations

import time
from pathlib import Path

import django_rq
import pytest

from accounts import domains
from accounts.services import mailbox_purge_start
from backups import services as backups
from backups.models import BackupArchive, BackupPolicy
from conftest import sign_in
from dms_admin.audit import Actor
from dms_admin.changes import apply_start
from dms_admin.jobqueue import job_enqueue
from dms_admin.mailserver_env.service import settings_update
from dms_admin.models import JobRun
from spam import services as spam
from tests.jobworker import ThreadedWorker

pytestmark = [pytest.mark.browser, pytest.mark.docker, pytest.mark.django_db(transaction=True)]
ADMIN = Actor("admin")
# Every status and progress value each row of the monitor showed, recorded in the page as htmx
# swaps the table in: proof the page changed live, without a reload.
WATCH_ROWS = """() => {
  window.seen = {};
  const record = () => document.querySelectorAll('#job-table tbody tr[data-kind]').forEach(row => {
    const seen = (window.seen[row.dataset.kind] ||= []);
    const state = row.dataset.status + ':' + row.querySelector('progress').value;
    if (seen[seen.length - 1] !== state) seen.push(state);
  });
  record();
  new MutationObserver(record).observe(document.body, {childList: true, subtree: true});
}"""


def message(kind: str, number: int) -> bytes:
    words = "WIN a FREE prize casino viagra" if kind == "spam" else "Minutes of the budget meeting"
    head = f"From: {kind}{number}@sender.test\nSubject: {words} {number}\nMessage-ID: <{kind}{number}@s.test>\n"
    return f"{head}\n{words} {kind}{number}\n".encode()


def fill(mail: Path, address: str, folder: str, kind: str, count: int) -> None:
    local, domain = address.split("@")
    cur = mail / domain / local / folder / "cur"
    cur.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        (cur / f"17000000{number:02d}.M{number}P1.mail:2,S").write_bytes(message(kind, number))


@pytest.fixture
def real(settings, docker_engine, mail_container, redis_url, tmp_path: Path):  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = docker_engine.host
    settings.DMS_CONTAINER_NAME = mail_container.name
    settings.DMS_CONTAINER_LABEL = ""
    settings.DMS_APPLY_HEALTH_TIMEOUT = 60
    settings.RQ_QUEUES = {name: {"URL": redis_url, "DEFAULT_TIMEOUT": 600} for name in ("default", "backups")}
    settings.DMS_MAIL_DIR = tmp_path / "mail"  # the container's /var/mail
    settings.DMS_STATE_DIR = tmp_path / "mail-state"
    settings.DMS_STATE_DIR.mkdir(exist_ok=True)
    for queue in ("default", "backups"):
        django_rq.get_queue(queue).empty()
    return settings


def watch_until_done(page, kinds: set[str], timeout: float = 120) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """Follow the monitor (no reload) until every row of `kinds` has finished; what each row showed."""
    deadline = time.monotonic() + timeout
    while True:
        seen: dict[str, list[str]] = page.evaluate("window.seen")
        if all(seen.get(kind) and seen[kind][-1].split(":")[0] in ("succeeded", "failed") for kind in kinds):
            return seen
        assert time.monotonic() < deadline, seen
        page.wait_for_timeout(250)


def test_every_job_kind_shows_live_on_the_monitor(browser_page, live_server, superadmin, real, tmp_path) -> None:  # type: ignore[no-untyped-def]
    mail = real.DMS_MAIL_DIR
    fill(mail, "user@example.test", ".Junk", "spam", 5)
    fill(mail, "user@example.test", ".Archives", "ham", 5)
    fill(mail, "gone@example.test", "", "ham", 3)  # the folder of a mailbox deleted earlier
    (tmp_path / "backups").mkdir()
    policy = BackupPolicy.objects.create(name="nightly", destination=str(tmp_path / "backups"), cron="30 3 * * *")
    schedule = spam.schedule_create(
        actor=ADMIN, scope="mailbox", target="user@example.test", cron="0 3 * * *", timezone="UTC"
    )
    settings_update(updates={"POSTMASTER_ADDRESS": "boss@example.test"}, actor=ADMIN)

    # Queued before the page opens, so the monitor polls; the worker starts once it watches.
    apply_start(actor=ADMIN)
    spam.training_start(schedule=schedule, actor=ADMIN)
    backups.backup_start(policy=policy, actor=ADMIN)
    mailbox_purge_start(address="gone@example.test", actor=ADMIN)
    domains.dkim_generate_start(domain="example.test", selector="mail", bits=2048, force=False, actor=ADMIN)
    page = browser_page
    sign_in(page, live_server.url + "/jobs/")
    page.wait_for_selector("#job-table tr[data-kind=apply]")
    page.evaluate(WATCH_ROWS)
    first = {"apply", "spam-train", "backup", "mailbox-purge", "dkim"}
    with ThreadedWorker("default", "backups"):
        seen = watch_until_done(page, first)
    # No worker while the page reloads: a small archive verifies in well under a second, and a row
    # already done when the watch begins would not show that it changed in place.
    archive = BackupArchive.objects.get(policy=policy)
    backups.verify_start(archive=archive, actor=ADMIN)
    backups.restore_start(archive=archive, scope="mailbox", mailbox="user@example.test", dry_run=True, actor=ADMIN)
    page.reload()  # the table stops polling once everything is done; new jobs start it again
    page.wait_for_selector("#job-table tr[data-kind=verify]")
    page.evaluate(WATCH_ROWS)
    with ThreadedWorker("default", "backups"):
        later = watch_until_done(page, {"verify", "restore"})
    seen.update(verify=later["verify"], restore=later["restore"])

    runs = {run.kind: run for run in JobRun.objects.exclude(kind="confirm")}
    assert {kind: run.status for kind, run in runs.items()} == dict.fromkeys(
        first | {"verify", "restore"}, "succeeded"
    ), {kind: run.error for kind, run in runs.items()}
    for kind, states in seen.items():
        # Each row changed in place, from queued (or running) to succeeded at 100%.
        assert states[0].split(":")[0] in ("queued", "running") and states[-1] == "succeeded:100", (kind, states)
    assert (tmp_path / "mail" / "example.test" / "gone").exists() is False
    assert spam.bayes_stats().nspam >= 5  # the training really ran in the container
    page.click("#job-table tr[data-kind=dkim] a")
    page.wait_for_selector("text=DKIM key mail generated")
    page.click("text=Back to example.test")
    page.wait_for_selector("code.dkim-value")


def slow_job(run_id: str, steps: int) -> None:
    """A job with the stop points of the real ones, slow enough to be stopped from the page."""
    from dms_admin.jobqueue import job_running

    with job_running(run_id) as report:
        for step in range(steps):
            report.progress(100 * step // steps, f"Step {step + 1} of {steps}")
            report.stop_point()
            time.sleep(0.2)


def test_stop_a_running_job_retry_it_and_cancel_the_retry(browser_page, live_server, superadmin, real) -> None:  # type: ignore[no-untyped-def]
    running = job_enqueue(kind="backup", func=slow_job, args=(600,), actor=ADMIN, queue="backups")
    page = browser_page
    sign_in(page, live_server.url + "/jobs/")
    with ThreadedWorker("backups"):
        page.wait_for_selector(f"#job-{running.id}[data-status=running]")  # the table updates by itself
        page.click(f"#job-{running.id} button:has-text('Stop')")
        page.wait_for_selector("h1:has-text('Job: backup')")
        page.wait_for_selector("text=Stopped by admin", timeout=20_000)  # the detail page follows it live
    running.refresh_from_db()
    assert running.status == "failed" and running.progress < 100 and running.stop_requested_by == "admin"

    page.goto(f"{live_server.url}/jobs/?status=failed")
    page.click(f"#job-{running.id} button:has-text('Retry')")
    page.wait_for_selector("h1:has-text('Job: backup')")
    retried = JobRun.objects.exclude(pk=running.pk).get()
    assert retried.func == running.func and retried.args == running.args and retried.status == "queued"
    page.goto(f"{live_server.url}/jobs/")
    page.click(f"#job-{retried.id} button:has-text('Cancel')")
    page.wait_for_selector(".flash:has-text('Job cancelled')")
    retried.refresh_from_db()
    assert retried.status == "failed" and retried.error == "Cancelled by admin."
    assert django_rq.get_queue("backups").count == 0  # RQ dropped it too
