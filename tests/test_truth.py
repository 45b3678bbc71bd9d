"""What the panel and API say after a write, on home and on errors must be what really happened."""

from __future__ import annotations

import re
import statistics
import time

import pytest
from django.urls import reverse
from django.utils import timezone

from dms_admin import plain
from dms_admin.dms import ContainerNotFound, DockerUnavailable
from dms_admin.models import JobRun, PendingChange
from tests.ops_helpers import UNREACHABLE, api_client

pytestmark = pytest.mark.django_db

RAW_ENGINE_ERROR = (
    "Error while fetching server API version: ('Connection aborted.', "
    "FileNotFoundError(2, 'No such file or directory'))"
)
REDIS_REFUSED = "The job queue (Redis) cannot be reached: Error 111 connecting to 127.0.0.1:1. Connection refused."


def _create_mailbox(client, address: str):  # type: ignore[no-untyped-def]
    return client.post("/mailboxes/new/", {"address": address, "password": "pw-123456789", "password2": "pw-123456789"})


@pytest.fixture
def engine_down(settings):  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = UNREACHABLE
    settings.RQ_QUEUES = {"default": {"URL": "redis://127.0.0.1:1/0"}, "backups": {"URL": "redis://127.0.0.1:1/0"}}


# ---- plain words ------------------------------------------------------------------------------


def test_it_explains_engine_container_and_redis_failures_with_the_variable_to_fix(settings) -> None:
    settings.DOCKER_HOST = "tcp://socket-proxy:2375"
    settings.DMS_CONTAINER_NAME = "mailserver"
    engine = plain.explain(RAW_ENGINE_ERROR)
    assert engine.reason == "engine-unreachable" and "tcp://socket-proxy:2375" in engine.sentence
    assert "DOCKER_HOST" in engine.fix and engine.details == RAW_ENGINE_ERROR
    missing = plain.explain(ContainerNotFound("Finding the mail container: the mail container was not found (x)."))
    assert missing.reason == "container-missing" and "DMS_CONTAINER_NAME" in missing.fix
    stopped = plain.explain(
        DockerUnavailable("Running postfix reload: the engine refused (container abc is not running).")
    )
    assert stopped.reason == "container-stopped" and "docker compose up -d mailserver" in stopped.fix
    redis = plain.explain("The job queue (Redis) cannot be reached: Error 111 connecting to 127.0.0.1:6379.")
    assert redis.reason == "redis" and "REDIS_URL" in redis.fix
    own = plain.explain("postfix reload failed (exit 1): fatal: bad config")
    assert own.reason == "other" and own.sentence.startswith("postfix reload failed")


# ---- what a write says ------------------------------------------------------------------------


def test_a_mailbox_create_says_written_and_waiting_not_applied(admin_client, engine_down) -> None:  # type: ignore[no-untyped-def]
    response = admin_client.post(
        "/mailboxes/new/",
        {"address": "new@example.test", "password": "pw-123456789", "password2": "pw-123456789"},
        follow=True,
    )
    html = response.content.decode()
    assert "Written to postfix-accounts.cf." in html
    assert "Waiting for docker-mailserver to pick it up" in html
    assert "applies it by itself" not in html and "Applied" not in html
    run = JobRun.objects.get(kind="confirm")
    assert f'hx-get="/applied/{run.id}/"' in html


def test_the_status_line_turns_to_not_applied_with_the_fix_when_the_confirmation_fails(
    admin_client, engine_down
) -> None:  # type: ignore[no-untyped-def]
    _create_mailbox(admin_client, "n@example.test")
    run = JobRun.objects.get(kind="confirm")
    # What the job queue records when Redis refuses the enqueue (dms_admin.jobqueue._enqueue).
    JobRun.objects.filter(pk=run.pk).update(status="failed", error=REDIS_REFUSED)
    html = admin_client.get(f"/applied/{run.id}/").content.decode()
    assert "Not applied:" in html and "REDIS_URL" in html and "hx-get" not in html  # final: polling stops
    JobRun.objects.filter(pk=run.pk).update(error=RAW_ENGINE_ERROR)
    html = admin_client.get(f"/applied/{run.id}/").content.decode()
    assert "The Docker engine cannot be reached" in html and "DOCKER_HOST" in html
    assert html.index("<details>") < html.index("Error while fetching server API version")  # raw only behind details


def test_the_status_line_says_applied_with_the_time_it_took(admin_client, engine_down) -> None:  # type: ignore[no-untyped-def]
    _create_mailbox(admin_client, "n@example.test")
    run = JobRun.objects.get(kind="confirm")
    JobRun.objects.filter(pk=run.pk).update(
        status="succeeded", error="", finished_at=run.created_at + timezone.timedelta(seconds=2.1)
    )
    html = admin_client.get(f"/applied/{run.id}/").content.decode()
    assert "Applied:" in html and "(2.1 s)" in html and "hx-get" not in html


def test_a_queued_confirmation_keeps_polling_and_says_when_no_worker_takes_it(admin_client, engine_down) -> None:  # type: ignore[no-untyped-def]
    _create_mailbox(admin_client, "n@example.test")
    run = JobRun.objects.get(kind="confirm")
    JobRun.objects.filter(pk=run.pk).update(status="queued", error="")
    assert 'hx-get="/applied/' in admin_client.get(f"/applied/{run.id}/").content.decode()
    JobRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timezone.timedelta(seconds=60))
    html = admin_client.get(f"/applied/{run.id}/").content.decode()
    assert "no worker has started" in html and 'hx-get="/applied/' in html


def test_only_the_session_that_made_the_change_may_watch_it(client, admin_client, engine_down, superadmin) -> None:  # type: ignore[no-untyped-def]
    _create_mailbox(admin_client, "n@example.test")
    run = JobRun.objects.get(kind="confirm")
    from django.test import Client

    assert Client().get(f"/applied/{run.id}/").status_code == 404  # anonymous, another session
    other = Client()
    other.force_login(superadmin)
    assert other.get(f"/applied/{run.id}/").status_code == 404
    assert admin_client.get(f"/applied/{run.id}/").status_code == 200


def test_the_api_answer_carries_the_apply_state(engine_down) -> None:
    client = api_client("write")
    body = client.post(
        "/api/v1/mailboxes/", {"address": "api@example.test", "password": "pw-123456789"}, format="json"
    ).json()
    assert body["change"]["apply"] == "watched"
    assert body["apply"]["state"] == "pending" and body["apply"]["job"] == str(JobRun.objects.get(kind="confirm").id)
    assert "Waiting for docker-mailserver" in body["apply"]["message"]
    env = client.patch("/api/v1/settings/", {"POSTMASTER_ADDRESS": "boss@example.test"}, format="json").json()
    assert env["apply"]["state"] == "needs-apply" and env["apply"]["job"] is None


def test_a_reload_that_cannot_reach_the_engine_says_not_applied(engine_down, store) -> None:  # type: ignore[no-untyped-def]
    client = api_client("write")
    body = client.post(
        "/api/v1/restrictions/", {"address": "spam@example.test", "direction": "send"}, format="json"
    ).json()
    assert body["apply"]["state"] == "failed" and "Not applied" in body["apply"]["message"]
    assert "DOCKER_HOST" in body["apply"]["message"]
    assert PendingChange.objects.filter(path="postfix-send-access.cf").exists()


# ---- jobs list, banner, pending ---------------------------------------------------------------


def test_the_job_list_hides_confirmations_unless_asked_and_one_banner_tells_a_failure(
    admin_client, engine_down
) -> None:  # type: ignore[no-untyped-def]
    for n in range(3):
        _create_mailbox(admin_client, f"u{n}@example.test")
    JobRun.objects.filter(kind="confirm").update(status="failed", error=RAW_ENGINE_ERROR)
    JobRun.objects.create(kind="backup", status="succeeded")
    jobs = admin_client.get("/jobs/").content.decode()
    assert ">confirm</a>" not in jobs and ">backup</a>" in jobs
    assert jobs.count('id="confirm-failed"') == 1  # one banner for three failed confirmations
    shown = admin_client.get("/jobs/?kind=confirm").content.decode()
    assert shown.count(">confirm</a>") == 3
    assert admin_client.get("/jobs/?kind=all").content.decode().count(">confirm</a>") == 3
    JobRun.objects.create(kind="confirm", status="succeeded", created_at=timezone.now())
    assert 'id="confirm-failed"' not in admin_client.get("/jobs/").content.decode()


def test_pending_changes_are_counted_per_file(admin_client) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        PendingChange.objects.create(path="mailserver.env", action="recreate")
    PendingChange.objects.create(path="postfix-send-access.cf", action="reload")
    home = admin_client.get("/").content.decode()
    assert "2 files changed but not in use yet" in home
    assert re.search(r"<code>mailserver.env</code>.*?3 changes", home, re.S)


# ---- home -------------------------------------------------------------------------------------


def test_home_with_the_engine_down_is_red_names_the_engine_and_shows_no_raw_exception(
    admin_client, engine_down
) -> None:  # type: ignore[no-untyped-def]
    html = admin_client.get("/").content.decode()
    verdict = html[html.index('id="verdict"') : html.index("</section>", html.index('id="verdict"'))]
    assert 'data-status="error"' in verdict and "Not working:" in verdict
    assert "The Docker engine cannot be reached" in verdict and "DOCKER_HOST" in verdict
    outside_details = re.sub(r"<details>.*?</details>", "", html, flags=re.S)
    assert "Connection aborted" not in outside_details and "FileNotFoundError" not in outside_details
    assert "1 domain, 1 mailbox, 1 alias." in html  # the files are read, engine or not
    assert 'href="/health/"' in html


def test_home_renders_fast_with_the_engine_unreachable(admin_client, engine_down, settings) -> None:  # type: ignore[no-untyped-def]
    settings.RQ_QUEUES = {"default": {"URL": "redis://127.0.0.1:1/0"}}  # refused at once
    admin_client.get("/")
    times = []
    for _ in range(20):
        started = time.perf_counter()
        assert admin_client.get("/").status_code == 200
        times.append(time.perf_counter() - started)
    p95 = statistics.quantiles(times, n=20)[-1]
    print(f"home with the engine unreachable: median {statistics.median(times) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms")
    assert p95 < 0.150


def test_metrics_come_from_the_same_checks_as_the_health_page(client, settings, engine_down) -> None:  # type: ignore[no-untyped-def]
    settings.METRICS_TOKEN = "t0ken"
    body = client.get("/metrics", HTTP_AUTHORIZATION="Bearer t0ken").content.decode()
    for name in (
        "dms_admin_mailboxes 1",
        "dms_admin_aliases 1",
        "dms_admin_health_status 2",
        "dms_admin_last_backup_age_seconds -1",
        'dms_admin_disk_free_bytes{volume="mail"}',
    ):
        assert name in body, name
    assert reverse("home") == "/"


def test_error_pages_are_styled_and_the_favicon_is_served(client, admin_client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DEBUG = False
    missing = admin_client.get("/no/such/page/")
    assert missing.status_code == 404 and b"app.css" in missing.content and b"Back to the start page" in missing.content
    from django.test import Client
    from django.views.defaults import server_error

    assert b"Something went wrong" in server_error(Client().get("/healthz").wsgi_request).content
    icon = Client().get("/favicon.ico")
    assert icon.status_code == 301 and icon["Location"].endswith("favicon.svg")


def test_the_dns_line_sums_up_the_last_check_of_each_domain() -> None:
    from accounts.health import dns_check
    from accounts.models import DnsCheck

    assert dns_check(["a.test", "b.test"]).message == "2 not checked yet (a domain's page checks it)."
    DnsCheck.objects.create(domain="a.test", failing=[])
    DnsCheck.objects.create(domain="b.test", failing=["SPF", "DKIM"])
    line = dns_check(["a.test", "b.test", "c.test"])
    assert line.status == "warn" and line.message.startswith("1 of 2 checked domain(s) pass; 1 not checked yet")
    assert line.details == ("b.test: SPF, DKIM not right",) and line.link == "/domains/b.test/?check=1"
    assert dns_check(["a.test"]).status == "ok"


def test_the_stylesheet_braces_balance() -> None:
    """A lost "}" (a merge) silently turns every later rule into a phone-only one."""
    from pathlib import Path

    css = (Path(__file__).resolve().parent.parent / "static" / "css" / "app.css").read_text()
    depth = 0
    for number, line in enumerate(css.splitlines(), 1):
        if line.lstrip().startswith("@media"):
            assert depth == 0, f"line {number}: @media inside an open block"
        depth += line.count("{") - line.count("}")
        assert depth >= 0, f"line {number}: a closing brace too many"
    assert depth == 0


# ---- work Redis would not take ----------------------------------------------------------------
# transaction=True: the job is handed to Redis when the request's transaction commits, as in
# production; inside the usual test transaction that moment never comes.


@pytest.mark.django_db(transaction=True)
def test_a_write_whose_confirmation_cannot_be_queued_says_not_confirmed_not_waiting(engine_down) -> None:  # type: ignore[no-untyped-def]
    created = api_client("write").post(
        "/api/v1/mailboxes/", {"address": "q@example.test", "password": "pw-123456789"}, format="json"
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["apply"]["state"] == "failed" and body["change"]["pending"] is True
    message = body["apply"]["message"]
    assert message.startswith("Written to postfix-accounts.cf. Not confirmed: The job queue (Redis")
    assert "REDIS_URL" in message and "Waiting" not in message
    run = JobRun.objects.get(pk=body["apply"]["job"])
    assert run.status == "failed" and run.error.startswith("The job queue (Redis) cannot be reached")


@pytest.mark.django_db(transaction=True)
def test_a_job_redis_would_not_take_is_answered_503_with_its_failed_row_not_202_queued(engine_down, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from backups.models import BackupPolicy

    (tmp_path / "dest").mkdir()
    policy = BackupPolicy.objects.create(name="q", destination=str(tmp_path / "dest"), cron="30 3 * * *")
    started = api_client("write").post(f"/api/v1/backups/policies/{policy.pk}/run/")
    assert started.status_code == 503, started.content
    body = started.json()
    assert body["error"].startswith("The job queue (Redis) cannot be reached") and body["fields"] == {}
    assert body["job"]["status"] == "failed" and body["job"]["kind"] == "backup"
    assert JobRun.objects.get(pk=body["job"]["id"]).status == "failed"
