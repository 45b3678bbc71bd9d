"""The spam pages in a real Chromium: the rules editor, the Bayes plot, a schedule and its training run."""

from __future__ import annotations

from pathlib import Path

import django_rq
import pytest
from django_rq import get_worker

from conftest import sign_in, wait_until
from dms_admin.models import JobRun
from spam import files
from spam.models import TrainingRun, TrainingSchedule

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def test_rules_editor_numbers_lines_and_bayes_page_plots(
    browser_page,
    live_server,
    superadmin,
    settings,
    config_dir,
) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"
    (config_dir / "spamassassin-rules.cf").write_text("header LOCAL_A Subject =~ /a/\nscore LOCAL_A 1.0\n")
    schedule = TrainingSchedule.objects.create()
    TrainingRun.objects.create(
        schedule=schedule, nspam_before=0, nham_before=0, nspam_after=120, nham_after=80, ok=True
    )
    page = browser_page
    sign_in(page, live_server.url + "/login/?next=/spam/rules/")
    page.wait_for_selector("h1:has-text('Custom SpamAssassin rules')")
    assert page.locator(".gutter span").count() == 3  # two lines and the empty last one
    page.fill("textarea.rules-text", "a\nb\nc\nd\ne")
    wait_until(page, "() => document.querySelectorAll('.gutter span').length === 5")
    page.click("button[value=validate]")  # no container: said plainly, nothing saved
    page.wait_for_selector(".flash.error:has-text('could not be checked')")
    page.goto(live_server.url + "/spam/bayes/")
    page.wait_for_selector("svg.bayes-plot circle.nspam")
    assert page.locator("svg.bayes-plot .threshold").count() == 1


GOOD = "header LOCAL_VIAGRA Subject =~ /viagra/i\nscore LOCAL_VIAGRA 5.0\n"
BAD = "header LOCAL_CASINO Subject =~ /casino/i\nscore LOCAL_CASINO 3.0\nheadr BROKEN Subject =~ /x/\n"
BAYES = "/var/mail-state/lib-amavis/.spamassassin"


def dump_magic(container) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """nspam and nham as SpamAssassin's own `sa-learn --dump magic` reads them (no DB yet: zeros)."""
    result = container.exec_run(["bash", "-c", f"sa-learn --dump magic --dbpath {BAYES} 2>&1"])
    stats = files.parse_dump_magic(result.output.decode(errors="replace"))
    return stats.nspam, stats.nham


def fill_maildir(mail: Path, folder: str, kind: str, count: int) -> None:
    cur = mail / "example.test" / "user" / folder / "cur"
    cur.mkdir(parents=True, exist_ok=True)
    words = "win free prize casino lottery pills" if kind == "spam" else "meeting minutes budget review agenda"
    for number in range(count):
        (cur / f"17000000{number:02d}.M{number}P1.mail:2,S").write_bytes(
            f"From: {kind}{number}@sender.test\nTo: user@example.test\nSubject: {words} {number}\n"
            f"Message-ID: <{kind}-{number}@sender.test>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n\n"
            f"{words} {number} {kind}word{number}\n".encode()
        )


@pytest.mark.docker
def test_rules_schedule_and_a_training_run_with_the_real_container_and_worker(
    browser_page,
    live_server,
    superadmin,
    settings,
    config_dir,
    docker_engine,
    mail_container,
    redis_url,
    tmp_path,
) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = docker_engine.host
    settings.DMS_CONTAINER_NAME = mail_container.name
    settings.DMS_CONTAINER_LABEL = ""
    settings.RQ_QUEUES = {name: {"URL": redis_url, "DEFAULT_TIMEOUT": 600} for name in ("default", "backups")}
    django_rq.get_queue("default").empty()
    rules = config_dir / files.RULES_FILE
    fill_maildir(tmp_path / "mail", ".Junk", "spam", 12)  # the container's /var/mail
    fill_maildir(tmp_path / "mail", ".Archives", "ham", 9)
    nspam, nham = dump_magic(mail_container)

    page = browser_page
    sign_in(page, live_server.url + "/login/?next=/spam/rules/")
    page.wait_for_selector("h1:has-text('Custom SpamAssassin rules')")

    # A valid rule: linted by the container's SpamAssassin, then saved.
    page.fill("textarea.rules-text", GOOD)
    page.click("button[value=save]")
    page.wait_for_selector(".flash:has-text('Rules saved')", timeout=60_000)
    assert rules.read_text() == GOOD
    assert page.input_value("textarea.rules-text") == GOOD

    # A syntax error: SpamAssassin's message with its line, the line marked, the file as it was.
    page.fill("textarea.rules-text", BAD)
    page.click("button[value=save]")
    problem = page.wait_for_selector(".lint-problems li:has-text('headr BROKEN')", timeout=60_000)
    assert problem is not None and problem.inner_text().startswith("line 3:")
    assert page.locator(".gutter span.bad").all_inner_texts() == ["3"]
    assert page.input_value("textarea.rules-text") == BAD  # the admin's text is kept to fix it
    assert rules.read_text() == GOOD

    # A schedule made through the form.
    page.goto(live_server.url + "/spam/schedules/")
    page.click("a:has-text('New schedule')")
    page.select_option("#id_scope", "mailbox")
    page.fill("#id_target", "user@example.test")
    page.fill("#id_spam_folders", ".Junk")
    page.fill("#id_ham_folders", ".Archives")
    page.fill("#id_cron", "30 2 * * *")
    page.fill("#id_timezone", "Europe/Paris")
    page.click("button:has-text('Save')")
    page.wait_for_selector(".flash.success:has-text('Schedule saved')")
    schedule = TrainingSchedule.objects.get()
    assert (schedule.scope, schedule.target, schedule.spam_folders, schedule.ham_folders) == (
        "mailbox",
        "user@example.test",
        [".Junk"],
        [".Archives"],
    )
    assert (schedule.cron, schedule.timezone, schedule.enabled) == ("30 2 * * *", "Europe/Paris", True)
    assert "user@example.test" in page.inner_text("table")

    # Run now: the job page's progress bar, polled by htmx, goes to done while a real worker trains.
    page.click("button:has-text('Run now')")
    page.wait_for_selector("h1:has-text('Job: spam-train')")
    page.wait_for_selector(".badge.queued")
    assert page.locator("progress").count() == 1
    page.evaluate(
        "window.seen = []; setInterval(() => { const bar = document.querySelector('progress');"
        " if (bar) window.seen.push(Number(bar.value)); }, 100)"
    )
    get_worker("default", worker_class="rq.worker.SimpleWorker").work(burst=True)
    page.wait_for_selector(".badge.succeeded", timeout=30_000)
    assert page.locator("progress").get_attribute("value") == "100"
    assert "Learned 12 spam and 9 ham" in page.inner_text(".job")
    # The sampler runs every 100 ms: let it see the final swap before reading what it saw.
    wait_until(page, "() => window.seen.length > 0 && window.seen[window.seen.length - 1] === 100", timeout=5)
    seen = page.evaluate("window.seen")
    assert any(0 < value < 100 for value in seen), seen  # it moved on the way, not only at the end
    run = JobRun.objects.get(kind="spam-train")
    assert run.status == "succeeded" and run.progress == 100, run.error
    assert dump_magic(mail_container) == (nspam + 12, nham + 9)  # really learned, as SpamAssassin reads it
    training = TrainingRun.objects.get(job=run)
    assert (training.nspam_after, training.nham_after) == (nspam + 12, nham + 9)
