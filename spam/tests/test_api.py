# ruff: noqa: E501
"""API and panel through the client, without the mail container (the engine is unreachable)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import django_rq
import pytest
from croniter import croniter
from django.urls import reverse

from dms_admin import jobqueue
from dms_admin.models import AuditEntry, JobRun
from dms_admin.schedules import due_minute
from spam import jobs
from spam.models import TrainingRun, TrainingSchedule
from tests.ops_helpers import api_client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_engine(settings):  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"


def test_it_creates_reads_updates_and_deletes_a_schedule(admin_client) -> None:  # type: ignore[no-untyped-def]
    url = "/api/v1/spam/schedules/"
    body = {"scope": "domain", "target": "Example.test", "cron": "0 2 * * *", "timezone": "Europe/Paris"}
    created = admin_client.post(url, body, content_type="application/json")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert data["target"] == "example.test"
    assert data["spam_folders"] == [".Junk"] and data["ham_folders"] == [".Archives*", ".INBOX.*"]
    detail = f"{url}{data['id']}/"
    changed = admin_client.put(detail, {"cron": "15 3 * * 1", "enabled": False}, content_type="application/json")
    assert changed.status_code == 200 and changed.json()["cron"] == "15 3 * * 1"
    assert changed.json()["target"] == "example.test" and changed.json()["enabled"] is False
    assert admin_client.get(url).json()["count"] == 1
    assert admin_client.delete(detail).status_code == 204
    assert not TrainingSchedule.objects.exists()
    assert AuditEntry.objects.filter(action__startswith="spam.schedule").count() == 3


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("cron", "61 * * * *", "cron expression"),
        ("timezone", "Mars/Olympus", "time zone"),
        ("timezone", "Europe", "time zone"),  # a folder of the zone database: was a 500
        ("spam_folders", ["../../etc"], "Maildir folder"),
        ("target", "not a domain", "domain"),
    ],
)
def test_it_refuses_bad_schedules_with_a_message(admin_client, field, value, words) -> None:  # type: ignore[no-untyped-def]
    body = {"scope": "domain", "target": "example.test", "cron": "0 2 * * *", "timezone": "UTC", field: value}
    answer = admin_client.post("/api/v1/spam/schedules/", body, content_type="application/json")
    assert answer.status_code == 400
    assert words in answer.json()["fields"][field][0]
    assert not TrainingSchedule.objects.exists()


def test_run_now_without_the_container_is_503(admin_client) -> None:  # type: ignore[no-untyped-def]
    schedule = TrainingSchedule.objects.create()
    answer = admin_client.post(f"/api/v1/spam/schedules/{schedule.pk}/run/")
    assert answer.status_code == 503 and "Docker" in answer.json()["error"]
    # Refused, and recorded as a failed run with the reason (not left without a trace).
    job = JobRun.objects.get()
    assert job.status == "failed" and "cannot be reached" in job.error and job.kind == "spam-train"
    assert TrainingRun.objects.get(job=job).errors == job.error


def test_runs_list_history(admin_client, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    schedule = TrainingSchedule.objects.create()
    for n in range(5):
        TrainingRun.objects.create(schedule=schedule, learned_spam=n, nspam_before=0, nspam_after=n, ok=True)
    with django_assert_max_num_queries(6):
        answer = admin_client.get("/api/v1/spam/runs/")
    assert answer.json()["count"] == 5 and answer.json()["results"][0]["learned_spam"] == 4


def test_a_token_may_read_but_not_write(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/v1/spam/schedules/").status_code == 401  # api.md: 401 for no token
    read = api_client("read")
    assert read.get("/api/v1/spam/schedules/").status_code == 200
    body = {"scope": "all", "cron": "0 2 * * *", "timezone": "UTC"}
    refused = read.post("/api/v1/spam/schedules/", body, format="json")
    assert refused.status_code == 403 and refused.json()["error"] == "This token may only read."  # api.md: scope
    assert not TrainingSchedule.objects.exists()


def test_paris_schedule_fires_at_the_right_utc_minute_across_dst() -> None:
    # 09:00 Europe/Paris: 08:00 UTC before the change of 30 March 2025, 07:00 UTC after it.
    before = datetime(2025, 3, 29, 8, 0, 30, tzinfo=UTC)
    after = datetime(2025, 3, 31, 7, 0, 30, tzinfo=UTC)
    assert due_minute("0 9 * * *", "Europe/Paris", before) == before.replace(second=0)
    assert due_minute("0 9 * * *", "Europe/Paris", before - timedelta(hours=1)) is None
    assert due_minute("0 9 * * *", "Europe/Paris", after) == after.replace(second=0)
    assert due_minute("0 9 * * *", "Europe/Paris", after + timedelta(hours=1)) is None
    assert due_minute("0 9 * * *", "Europe/Paris", after + timedelta(minutes=1)) is None


def test_two_dispatchers_in_one_minute_start_one_run(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    enqueued = []
    monkeypatch.setattr(
        jobqueue, "rq_queue", lambda name: type("Q", (), {"enqueue": lambda *a, **k: enqueued.append(k["job_id"])})()
    )
    TrainingSchedule.objects.create(cron="* * * * *")
    now = datetime(2025, 1, 1, 12, 0, 10, tzinfo=UTC)
    jobs.dispatch_due_trainings(now)
    jobs.dispatch_due_trainings(now + timedelta(seconds=30))
    run = JobRun.objects.get()
    assert run.kind == "spam-train" and enqueued == [str(run.id)]
    assert run.id == jobs.schedule_run_id(run_schedule_id(), now.replace(second=0))


def run_schedule_id() -> int:
    return TrainingSchedule.objects.get().pk


def test_the_quick_minute_check_agrees_with_croniter_on_ordinary_days() -> None:
    def reference(cron: str, tz: str, now: datetime) -> datetime | None:  # croniter's answer alone
        local_now = now.astimezone(ZoneInfo(tz)).replace(second=0, microsecond=0)
        scheduled: datetime = croniter(cron, local_now + timedelta(minutes=1)).get_prev(datetime)
        return None if now - scheduled >= timedelta(minutes=1) else scheduled.astimezone(ZoneInfo("UTC"))

    crons = ["30 2 * * *", "*/15 1-3 * * *", "0,59 * * * 1-5", "5 2,3 L * *", "* 2 * * *", "0 0 29 2 *"]
    fired = 0
    for start in (datetime(2025, 2, 28, 22, 0, 40, tzinfo=UTC), datetime(2024, 2, 28, 22, 0, 40, tzinfo=UTC)):
        for minute in range(0, 360, 3):
            now = start + timedelta(minutes=minute)
            for cron in crons:
                for tz in ("Europe/Paris", "America/New_York", "UTC"):
                    expected = reference(cron, tz, now)
                    assert due_minute(cron, tz, now) == expected, (cron, tz, now)
                    fired += expected is not None
    assert fired > 50


@pytest.mark.parametrize(
    ("night", "cron", "fires_at"),
    [
        ("2025-03-29", "30 2 * * *", []),  # 02:00-03:00 does not exist that night: skipped, as documented
        ("2025-03-29", "0 3 * * *", ["03:00+0200"]),
        ("2025-03-29", "0 * * * *", ["00:00+0100", "01:00+0100", "03:00+0200", "04:00+0200", "05:00+0200"]),
        ("2025-10-25", "30 2 * * *", ["02:30+0200"]),  # 02:00-03:00 comes twice: once, not also at 02:59
        ("2025-10-25", "0 3 * * *", ["03:00+0100"]),
    ],
)
def test_a_paris_schedule_on_a_dst_night_fires_as_documented(night: str, cron: str, fires_at: list[str]) -> None:
    start = datetime.fromisoformat(f"{night}T23:00:30+00:00")
    fired = [
        (start + timedelta(minutes=m)).astimezone(ZoneInfo("Europe/Paris")).strftime("%H:%M%z")
        for m in range(300)
        if due_minute(cron, "Europe/Paris", start + timedelta(minutes=m))
    ]
    assert fired == fires_at


@pytest.mark.django_db(transaction=True)  # django_rq enqueues when the transaction commits
def test_due_schedules_start_one_training_and_say_once_which_waited(
    settings, redis_url, caplog, django_assert_max_num_queries
) -> None:  # type: ignore[no-untyped-def]
    settings.RQ_QUEUES = {name: {"URL": redis_url} for name in ("default", "backups")}
    queue = django_rq.get_queue("default")
    queue.empty()
    first, second, third = (TrainingSchedule.objects.create(cron="0 3 * * *") for _ in range(3))
    TrainingSchedule.objects.create(cron="0 4 * * *")
    TrainingSchedule.objects.create(cron="0 3 * * *", enabled=False)
    now = datetime(2025, 1, 1, 3, 0, 10, tzinfo=UTC)
    with django_assert_max_num_queries(6):
        started = jobs.dispatch_due_trainings(now)
    assert started == [str(jobs.schedule_run_id(first.pk, now.replace(second=0)))] and queue.job_ids == started
    assert [r.message for r in caplog.records] == [
        f"2 training(s) due at 2025-01-01 03:00:00+00:00 skipped, another training has not ended: "
        f"schedule(s) {second.pk}, {third.pk}"
    ]
    assert jobs.dispatch_due_trainings(now.replace(second=50)) == []  # the same minute again: nothing new
    assert JobRun.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("field", "value"), [("cron", "every night"), ("timezone", "Mars/Olympus"), ("timezone", "Europe")]
)
def test_a_schedule_with_a_bad_cron_or_zone_does_not_stop_the_others(settings, redis_url, caplog, field, value) -> None:  # type: ignore[no-untyped-def]
    # Before the one dispatcher, a zone naming a folder of the zone database ("Europe") raised out of the tick.
    settings.RQ_QUEUES = {name: {"URL": redis_url} for name in ("default", "backups")}
    queue = django_rq.get_queue("default")
    queue.empty()
    broken = TrainingSchedule.objects.create(cron="0 3 * * *")
    TrainingSchedule.objects.filter(pk=broken.pk).update(**{field: value})  # edited behind the service's back
    good = TrainingSchedule.objects.create(cron="0 3 * * *")
    now = datetime(2025, 1, 1, 3, 0, 10, tzinfo=UTC)
    started = jobs.dispatch_due_trainings(now)
    assert started == [str(jobs.schedule_run_id(good.pk, now.replace(second=0)))] and queue.job_ids == started
    [warning] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warning.startswith(f"training schedule {broken.pk} has a bad cron or time zone: ")


def test_the_panel_pages_render_for_an_admin(admin_client) -> None:  # type: ignore[no-untyped-def]
    schedule = TrainingSchedule.objects.create()
    TrainingRun.objects.create(schedule=schedule, nspam_before=0, nham_before=0, nspam_after=50, nham_after=20, ok=True)
    for name in (
        "spam:settings",
        "spam:rules",
        "spam:schedule-list",
        "spam:run-list",
        "spam:bayes",
        "spam:schedule-create",
    ):
        answer = admin_client.get(reverse(name))
        assert answer.status_code == 200, name
    page = admin_client.get(reverse("spam:bayes")).content.decode()
    assert '<svg class="bayes-plot chart"' in page and "cannot be reached" in page
    assert "ENABLE_SPAMASSASSIN" in admin_client.get(reverse("spam:settings")).content.decode()


def test_the_panel_is_for_admins_only(client, django_user_model) -> None:  # type: ignore[no-untyped-def]
    user = django_user_model.objects.create_user("bob", password="x")
    client.force_login(user)
    assert client.get(reverse("spam:rules")).status_code == 403
    assert client.get("/spam/").status_code == 403


def test_the_settings_form_writes_only_what_changed(admin_client, config_dir) -> None:  # type: ignore[no-untyped-def]
    answer = admin_client.post(
        reverse("spam:settings"), {"SA_TAG": "1.5", "SPAM_SUBJECT": "[SPAM] ", "ENABLE_SPAMASSASSIN": "1"}
    )
    assert answer.status_code == 302
    env = (config_dir / "mailserver.env").read_text()
    assert "SA_TAG=1.5\n" in env and "SPAM_SUBJECT='[SPAM] '\n" in env
    assert "SA_TAG2" not in env
    bad = admin_client.post(reverse("spam:settings"), {"SA_KILL": "lots"})
    assert bad.status_code == 400 and "SA_KILL" not in (config_dir / "mailserver.env").read_text()


def test_the_subdomain_switch_and_schedule_form(admin_client, config_dir) -> None:  # type: ignore[no-untyped-def]
    assert admin_client.post(reverse("spam:subdomains"), {"enabled": "1"}).status_code == 302
    assert '@local_domains_maps = (".");' in (config_dir / "amavis.cf").read_text()
    assert admin_client.get(reverse("spam:subdomains")).status_code == 405
    form = {
        "scope": "mailbox",
        "target": "user@example.test",
        "spam_folders": ".Junk",
        "ham_folders": ".Archives*, cur",
        "cron": "0 3 * * *",
        "timezone": "Europe/Paris",
        "enabled": "on",
    }
    assert admin_client.post(reverse("spam:schedule-create"), form).status_code == 302
    assert TrainingSchedule.objects.get().ham_folders == [".Archives*", "cur"]
    refused = admin_client.post(reverse("spam:schedule-create"), {**form, "cron": "every day"})
    assert refused.status_code == 200 and "cron expression" in refused.content.decode()


def test_run_now_in_the_panel_with_the_engine_down_leaves_a_failed_run_that_says_why(admin_client) -> None:  # type: ignore[no-untyped-def]
    schedule = TrainingSchedule.objects.create()
    answer = admin_client.post(reverse("spam:schedule-run", args=[schedule.pk]))
    job = JobRun.objects.get(kind="spam-train")
    assert answer.status_code == 302 and answer["Location"] == reverse("job-detail", args=[job.id])
    assert job.status == "failed" and job.finished_at and job.error.startswith("Not started: the mail server")
    run = TrainingRun.objects.get(job=job)
    assert not run.ok and run.ended_at and run.errors == job.error and run.schedule == schedule
    page = admin_client.get(answer["Location"]).content.decode()
    assert "failed" in page and "Not started: the mail server cannot be reached" in page
    runs = admin_client.get(reverse("spam:schedule-list")).content.decode()
    assert '<span class="badge failed">failed</span>' in runs and "Not started: the mail server" in runs
    assert job.func == "spam.jobs.training_job"  # so Retry runs it once the engine is back


@pytest.mark.django_db(transaction=True)  # real commits: the job is handed to Redis after its row is saved
def test_run_now_with_redis_down_leaves_a_failed_run_too(admin_client, settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    class Reachable:  # the engine answers; only the queue is down (a real refused connection below)
        def status(self) -> object:
            return object()

    monkeypatch.setattr("spam.services.get_mailserver", lambda: Reachable())
    settings.RQ_QUEUES = {"default": {"URL": "redis://127.0.0.1:1/0", "DEFAULT_TIMEOUT": 60}}
    schedule = TrainingSchedule.objects.create()
    admin_client.post(reverse("spam:schedule-run", args=[schedule.pk]))
    job = JobRun.objects.get(kind="spam-train")
    assert job.status == "failed" and "Redis" in job.error
    assert TrainingRun.objects.get(job=job).errors == job.error


def test_spam_settings_with_bad_fields_show_them_all_keep_every_value_and_write_nothing(  # type: ignore[no-untyped-def]
    admin_client, config_dir
) -> None:
    before = (config_dir / "mailserver.env").read_bytes()
    posted = {"SA_TAG": "lots", "SA_KILL": "many", "SPAM_SUBJECT": "[SPAM] ", "MOVE_SPAM_TO_JUNK": "0"}
    answer = admin_client.post(reverse("spam:settings"), posted)
    page = answer.content.decode()
    assert answer.status_code == 400 and (config_dir / "mailserver.env").read_bytes() == before
    assert page.count('aria-invalid="true"') == 2 and "Nothing was saved" in page
    assert 'value="lots"' in page and 'value="many"' in page and 'value="[SPAM] "' in page
    assert '<option value="0" selected>0</option>' in page


DENIED_RULES = "header LOCAL_TEST Subject =~ /viagra/i\n  LoadPlugin Mail::SpamAssassin::Plugin::Evil /tmp/evil.pm\nscore LOCAL_TEST 5\n"


def test_the_api_refuses_a_denied_directive_by_line_without_asking_spamassassin(admin_client, config_dir) -> None:  # type: ignore[no-untyped-def]
    # The engine is unreachable here: a 503 would mean the rules went on to lint.
    (config_dir / "spamassassin-rules.cf").write_text("score OLD 1\n")
    put = admin_client.put("/api/v1/spam/rules/", {"text": DENIED_RULES}, content_type="application/json")
    assert put.status_code == 400, put.json()
    assert put.json()["error"].startswith("These rules are not allowed in spamassassin-rules.cf: line 2: ")
    assert put.json()["fields"]["text"] == [
        "line 2: not allowed here: loadplugin loads Perl code into the mail server."
    ]
    assert (config_dir / "spamassassin-rules.cf").read_text() == "score OLD 1\n"
    checked = admin_client.post("/api/v1/spam/rules/validate/", {"text": DENIED_RULES}, content_type="application/json")
    assert checked.status_code == 400 and checked.json()["ok"] is False
    assert checked.json()["problems"] == [
        {"line": 2, "message": "not allowed here: loadplugin loads Perl code into the mail server.", "denied": True}
    ]
    assert "line 2" in checked.json()["error"] and checked.json()["fields"]["text"][0].startswith("line 2: ")
    assert not AuditEntry.objects.filter(action="spam.rules").exists()


def test_the_panel_marks_the_line_of_a_denied_directive(admin_client, config_dir) -> None:  # type: ignore[no-untyped-def]
    for action in ("validate", "save"):
        answer = admin_client.post(reverse("spam:rules"), {"text": DENIED_RULES, "action": action})
        page = answer.content.decode()
        assert answer.status_code == 400, action
        assert "not allowed in this file (SpamAssassin was not asked)" in page
        assert '<a href="#" data-line="2">line 2</a>: not allowed here: loadplugin' in page
        assert '<span class="">1</span><span class="bad">2</span><span class="">3</span>' in page
    assert not (config_dir / "spamassassin-rules.cf").exists()
