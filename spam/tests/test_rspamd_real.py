"""Bayes training with Rspamd: the test mail image run with ENABLE_RSPAMD=1 (Debian's Rspamd 3.4, Bayes on
its own Redis), trained by a real RQ run, read back with the real `rspamc stat`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import django_rq
import docker
import pytest
from django.urls import reverse
from django_rq import get_worker
from docker.models.containers import Container

from dms_admin.audit import Actor
from dms_admin.models import JobRun
from spam import files, jobs, services
from spam.models import TrainingRun
from spam.tests.test_services_real import fill
from tests.realenv.containers import exec_checked
from tests.realenv.fixtures import _run_mail_container

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]

ADMIN = Actor(name="admin")
N = 6


@pytest.fixture
def rspamd_container(
    docker_client: docker.DockerClient, mail_image: str, config_dir: Path, tmp_path: Path
) -> Iterator[Container]:
    """The mail container with ENABLE_RSPAMD=1: healthy means Redis and Rspamd run and `rspamc stat` answers."""
    with (config_dir / "mailserver.env").open("a") as env:
        env.write("ENABLE_RSPAMD=1\n")
    yield from _run_mail_container(
        docker_client, mail_image, config_dir, tmp_path, network_mode="none", env={"ENABLE_RSPAMD": "1"}
    )


@pytest.fixture
def _real_services(settings, docker_engine, rspamd_container, redis_url):  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = docker_engine.host
    settings.DMS_CONTAINER_NAME = rspamd_container.name
    settings.DMS_CONTAINER_LABEL = ""
    settings.SPAM_RSPAMD_STAT_WAIT = 120  # Rspamd recounts every 30-60 s: room for a loaded test machine
    settings.RQ_QUEUES = {name: {"URL": redis_url, "DEFAULT_TIMEOUT": 600} for name in ("default", "backups")}
    django_rq.get_queue("default").empty()


def run_jobs() -> None:
    get_worker("default", worker_class="rq.worker.SimpleWorker").work(burst=True)


def rspamc_stat(container: Container) -> files.BayesStats:
    return files.parse_rspamc_stat(exec_checked(container, ["rspamc", "stat"]))


def message(kind: str, number: int) -> bytes:
    """A plain mail with enough words for Rspamd's Bayes (min_tokens) and a stable digest of its tokens.

    (Very short bodies are not tokenised the same way every time, so Rspamd may learn them again.)
    """
    if kind == "spam":
        subject = f"WIN a FREE prize {number} today"
        body = (
            f"Congratulations winner {number}! Claim your lottery winnings and casino bonus now.\n"
            "Cheap pills, cheap watches and a free credit offer are waiting: click the link below\n"
            f"and enter your bank details to receive the money transfer {number} immediately.\n"
        )
    else:
        subject = f"Minutes of meeting {number}"
        body = (
            f"Hello team,\n\nattached are the minutes of our meeting number {number} about the quarterly\n"
            "budget review and the project plan. Please read them before Friday and send your\n"
            "comments to the project office.\n\nBest regards,\nThe project office\n"
        )
    return (
        f"From: {kind}{number}@sender.test\nTo: user@example.test\nSubject: {subject}\n"
        f"Message-ID: <{kind}-{number}@sender.test>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n"
        f"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{body}"
    ).encode()


def test_the_default_container_runs_no_rspamd(mail_container: Container) -> None:
    status = exec_checked(mail_container, ["supervisorctl", "status"])
    assert sorted(line.split()[0] for line in status.splitlines()) == ["changedetector", "dovecot", "postfix"]
    assert mail_container.exec_run(["rspamc", "-t", "1", "stat"]).exit_code != 0


@pytest.mark.usefixtures("_real_services")
def test_the_bayes_page_reads_rspamc_stat_and_names_rspamd(admin_client, rspamd_container: Container) -> None:  # type: ignore[no-untyped-def]
    assert services.engine_active() == "rspamd"
    real = exec_checked(rspamd_container, ["rspamc", "stat"])
    assert "Statfile: BAYES_SPAM" in real and "Statfile: BAYES_HAM" in real  # our Bayes config is loaded
    assert services.bayes_stats() == files.parse_rspamc_stat(real) == files.BayesStats(0, 0, 0)  # a fresh DB
    page = admin_client.get(reverse("spam:bayes"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Active engine: <strong>Rspamd</strong>" in html
    assert '<dd id="nspam">0</dd>' in html and '<dd id="nham">0</dd>' in html
    assert "needs 200 more spam and 200 more ham" in html
    bayes = admin_client.get("/api/v1/spam/bayes/").json()
    assert (bayes["engine"], bayes["nspam"], bayes["nham"], bayes["active"]) == ("rspamd", 0, 0, False)


@pytest.mark.usefixtures("_real_services")
def test_a_scheduled_run_teaches_rspamd_n_and_n_then_nothing_new(  # type: ignore[no-untyped-def]
    admin_client, rspamd_container: Container, tmp_path: Path
) -> None:
    mail = tmp_path / "mail"
    fill(mail, ".Junk", "spam", N, make=message)
    fill(mail, ".Archives", "ham", N, make=message)
    start = rspamc_stat(rspamd_container)
    schedule = services.schedule_create(
        actor=ADMIN, scope="mailbox", target="user@example.test", cron="30 2 * * *", timezone="Europe/Paris"
    )
    first = jobs.dispatch_due_trainings(datetime(2025, 7, 1, 0, 30, 20, tzinfo=UTC))  # 02:30 in Paris
    assert len(first) == 1
    run_jobs()
    job = JobRun.objects.get(pk=first[0])
    assert job.status == "succeeded", job.error
    run = TrainingRun.objects.get()
    assert run.ok and run.engine == "rspamd"
    assert (run.learned_spam, run.learned_ham, run.examined_spam, run.examined_ham) == (N, N, N, N)
    assert (run.nspam_before, run.nham_before) == (start.nspam, start.nham)
    # The run waited for Rspamd's controller to count the learns (it re-reads Redis every 30-60 s).
    assert (run.nspam_after, run.nham_after) == (start.nspam + N, start.nham + N)
    assert rspamc_stat(rspamd_container) == files.BayesStats(start.nspam + N, start.nham + N, 0)
    assert services.bayes_stats() == rspamc_stat(rspamd_container)
    assert job.message.startswith(f"Learned {N} spam and {N} ham message(s)")
    html = admin_client.get(reverse("spam:bayes")).content.decode()
    assert f'<dd id="nspam">{start.nspam + N}</dd>' in html and f'<dd id="nham">{start.nham + N}</dd>' in html

    again = services.training_start(schedule=schedule, actor=ADMIN)
    run_jobs()
    again.refresh_from_db()
    assert again.status == "succeeded", again.error
    # Rspamd answers "<id> has been already learned as spam, ignore it" for each message.
    assert again.message == f"Nothing new to learn: {N} spam and {N} ham message(s) were already known."
    second = TrainingRun.objects.get(job=again)
    assert (second.learned_spam, second.learned_ham, second.examined_spam, second.examined_ham) == (0, 0, N, N)
    assert (second.nspam_before, second.nham_before) == (second.nspam_after, second.nham_after)
    assert (second.nspam_after, second.nham_after) == (start.nspam + N, start.nham + N)
    assert rspamc_stat(rspamd_container) == files.BayesStats(start.nspam + N, start.nham + N, 0)
