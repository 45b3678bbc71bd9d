"""Backup jobs through the real Redis and a real RQ worker; the API and panel around them."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import django_rq
import pytest
from django.utils import timezone
from django_rq import get_worker

from backups import jobs, services
from backups.models import BackupArchive, BackupPolicy
from dms_admin.audit import Actor
from dms_admin.models import AuditEntry, JobRun
from dms_admin.schedules import due_minute

pytestmark = [pytest.mark.django_db(transaction=True)]

ADMIN = Actor(name="admin")


@pytest.fixture(autouse=True)
def _redis(settings, redis_url):  # type: ignore[no-untyped-def]
    settings.RQ_QUEUES = {name: {"URL": redis_url, "DEFAULT_TIMEOUT": 600} for name in ("default", "backups")}
    for name in ("default", "backups"):
        django_rq.get_queue(name).empty()


def run_jobs() -> None:
    get_worker("backups", "default", worker_class="rq.worker.SimpleWorker").work(burst=True)


def test_a_due_policy_produces_exactly_one_run(policy: BackupPolicy) -> None:
    policy.cron = "30 3 * * *"
    policy.timezone = "Europe/Berlin"
    policy.save()
    BackupPolicy.objects.create(name="later", destination=policy.destination, cron="0 5 * * *")
    due = datetime(2025, 6, 1, 1, 30, 20, tzinfo=UTC)  # 03:30 in Berlin (summer time)
    assert jobs.dispatch_due_backups(now=datetime(2025, 6, 1, 1, 29, tzinfo=UTC)) == []
    first = jobs.dispatch_due_backups(now=due)
    again = jobs.dispatch_due_backups(now=due.replace(second=50))
    late = jobs.dispatch_due_backups(now=due.replace(minute=33))  # a slow minute: still the 03:30 run
    assert len(first) == 1 and again == [] and late == []
    run_jobs()
    run = JobRun.objects.get(kind="backup")
    assert run.status == "succeeded", run.error
    assert str(run.id) == first[0] == str(jobs.schedule_run_id(policy.pk, due.replace(second=0)))
    assert run.result["archive"] == BackupArchive.objects.get().pk and run.progress == 100
    assert jobs.dispatch_due_backups(now=due.replace(minute=35)) == []  # done already: never twice


@pytest.mark.parametrize(
    ("field", "value"), [("cron", "every night"), ("timezone", "Mars/Olympus"), ("timezone", "Europe")]
)
def test_a_policy_with_a_bad_cron_or_zone_does_not_stop_the_others(policy: BackupPolicy, caplog, field, value) -> None:  # type: ignore[no-untyped-def]
    # Before the one dispatcher, the first policy that did not parse raised out of the tick: no backup started.
    broken = BackupPolicy.objects.create(name="broken", destination=policy.destination, cron="30 3 * * *")
    BackupPolicy.objects.filter(pk=broken.pk).update(**{field: value})  # edited behind the service's back
    later = BackupPolicy.objects.create(name="later", destination=policy.destination, cron="30 3 * * *")
    due = datetime(2025, 6, 1, 3, 30, 20, tzinfo=UTC)
    started = jobs.dispatch_due_backups(now=due)
    minute = due.replace(second=0)
    assert sorted(started) == sorted(str(jobs.schedule_run_id(p.pk, minute)) for p in (policy, later))
    [warning] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warning.startswith(f"backup policy {broken.pk} has a bad cron or time zone: ")
    assert sorted(django_rq.get_queue("backups").job_ids) == sorted(started)


def test_run_now_verify_and_a_dry_run_restore_through_the_api(admin_client, policy: BackupPolicy) -> None:  # type: ignore[no-untyped-def]
    answer = admin_client.post(f"/api/v1/backups/policies/{policy.pk}/run/")
    assert answer.status_code == 202 and answer.json()["kind"] == "backup"
    refused = admin_client.post(f"/api/v1/backups/policies/{policy.pk}/run/")
    assert refused.status_code == 409 and "already queued" in refused.json()["error"]
    run_jobs()
    run = JobRun.objects.get(pk=answer.json()["id"])
    assert run.status == "succeeded", run.error
    assert run.message.startswith("Backed up ") and "retention" not in run.message  # what it did, nothing pruned
    [archive] = admin_client.get("/api/v1/backups/archives/").json()["results"]
    assert archive["kind"] == "full" and archive["verified_at"] is None

    verify = admin_client.post(f"/api/v1/backups/archives/{archive['id']}/verify/")
    assert verify.status_code == 202
    before_verify = timezone.now()
    run_jobs()
    assert before_verify <= BackupArchive.objects.get().verified_at <= timezone.now()  # type: ignore[operator]

    restore = admin_client.post(
        f"/api/v1/backups/archives/{archive['id']}/restore/",
        {"scope": "mailbox", "mailbox": "user@example.test", "dry_run": True},
        content_type="application/json",
    )
    assert restore.status_code == 202
    run_jobs()
    result = admin_client.get(f"/api/v1/jobs/{restore.json()['id']}/").json()
    assert result["status"] == "succeeded" and result["result"]["preview"]["counts"]["create"] == 0

    download = admin_client.get(f"/api/v1/backups/archives/{archive['id']}/download/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == Path(BackupArchive.objects.get().path).read_bytes()
    assert AuditEntry.objects.filter(action="backup.download").exists()


def test_policies_crud_with_clear_errors(admin_client, dest: Path, mail_dir: Path) -> None:  # type: ignore[no-untyped-def]
    body = {"name": "nightly", "include": ["mail", "config"], "destination": str(dest), "cron": "0 2 * * *"}
    created = admin_client.post("/api/v1/backups/policies/", body, content_type="application/json")
    assert created.status_code == 201, created.json()
    assert created.json()["include"] == ["mail", "config"] and created.json()["max_age_days"] == 30
    bad = admin_client.post(
        "/api/v1/backups/policies/", {**body, "name": "x", "cron": "every night"}, content_type="application/json"
    )
    assert bad.status_code == 400 and "cron" in bad.json()["fields"]
    for zone in ("Mars/Olympus", "Europe"):  # "Europe", a folder of the zone database, was a 500
        refused = admin_client.post(
            "/api/v1/backups/policies/", {**body, "name": "z", "timezone": zone}, content_type="application/json"
        )
        assert refused.status_code == 400 and "time zone" in refused.json()["fields"]["timezone"][0]
    inside = admin_client.post(
        "/api/v1/backups/policies/",
        {**body, "name": "y", "destination": str(mail_dir)},
        content_type="application/json",
    )
    assert inside.status_code == 400 and "destination" in inside.json()["fields"]
    pid = created.json()["id"]
    updated = admin_client.put(
        f"/api/v1/backups/policies/{pid}/", {**body, "keep_last": 2}, content_type="application/json"
    )
    assert updated.status_code == 200 and updated.json()["keep_last"] == 2
    assert admin_client.delete(f"/api/v1/backups/policies/{pid}/").status_code == 204


def test_anonymous_and_non_admins_get_nothing(client, django_user_model, policy: BackupPolicy) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/v1/backups/archives/").status_code == 401  # api.md: 401 for no token
    assert client.get("/backups/").status_code == 302
    django_user_model.objects.create_user("plain", password="x-very-long-password")
    client.login(username="plain", password="x-very-long-password")
    assert client.get("/backups/").status_code == 403


def test_the_panel_runs_lists_plots_and_previews(admin_client, policy: BackupPolicy, mail_dir: Path) -> None:  # type: ignore[no-untyped-def]
    answer = admin_client.post(f"/backups/policies/{policy.pk}/run/")
    assert answer.status_code == 302 and "/jobs/" in answer["Location"]
    assert admin_client.get(f"/backups/policies/{policy.pk}/run/").status_code == 405
    run_jobs()
    page = admin_client.get("/backups/").content.decode()
    assert "<svg" in page and "succeeded" in page
    archive = BackupArchive.objects.get()
    assert "full" in admin_client.get("/backups/archives/").content.decode()
    (mail_dir / "example.test" / "user" / "dovecot-uidlist").write_text("changed")
    preview = admin_client.get(f"/backups/archives/{archive.pk}/restore/?scope=mailbox&mailbox=user@example.test")
    assert "mail/example.test/user/dovecot-uidlist" in preview.content.decode()
    assert (mail_dir / "example.test" / "user" / "dovecot-uidlist").read_text() == "changed"
    done = admin_client.post(
        f"/backups/archives/{archive.pk}/restore/", {"scope": "mailbox", "mailbox": "user@example.test"}
    )
    assert done.status_code == 302
    run_jobs()
    assert (mail_dir / "example.test" / "user" / "dovecot-uidlist").read_bytes() == b"3 V1 N2\n"
    age = services.last_backup_age()
    assert age is not None and 0 <= age == pytest.approx((timezone.now() - archive.created_at).total_seconds(), abs=1)


@pytest.mark.parametrize(
    ("night", "fires_at"),
    [
        ("2025-03-29", []),  # 02:00-03:00 does not exist that night in Paris: no 02:30 backup
        ("2025-10-25", ["02:30+0200"]),  # it comes twice: one backup, not a second at 02:59
    ],
)
def test_a_paris_backup_on_a_dst_night_runs_at_most_once(night: str, fires_at: list[str]) -> None:
    start = datetime.fromisoformat(f"{night}T23:00:30+00:00")
    minutes = {
        due_minute("30 2 * * *", "Europe/Paris", start + timedelta(minutes=m), catch_up=jobs.CATCH_UP)
        for m in range(300)
    } - {None}
    assert sorted(m.astimezone(ZoneInfo("Europe/Paris")).strftime("%H:%M%z") for m in minutes) == fires_at


def test_a_backup_says_what_it_did_in_its_result(admin_client, policy: BackupPolicy) -> None:  # type: ignore[no-untyped-def]
    policy.keep_last, policy.keep_daily, policy.keep_weekly, policy.keep_monthly = 1, 0, 0, 0
    policy.save()
    for _ in range(2):
        run = services.backup_start(policy=policy, actor=ADMIN)
        run_jobs()
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    archive = BackupArchive.objects.get()  # the first was pruned by keep_last=1
    assert re.fullmatch(
        rf"Backed up {archive.file_count:,} file\(s\) into a [\d.]+ kB full archive in [\d.]+ s\."
        r" Retention removed 1 old archive\(s\)\.",
        run.message,
    ), run.message
    assert "retention rules" not in run.message and len(run.result["pruned"]) == 1
    page = admin_client.get(f"/jobs/{run.id}/").content.decode()
    assert "<dt>Files</dt>" in page and "<dt>Removed by retention</dt>" in page and "\u00a0kB</span>" in page
    listing = admin_client.get("/backups/").content.decode()
    assert run.message in listing
    assert "Size (kB)" in listing and "0.0 MB" not in listing  # a small archive is charted in kB


def test_a_missing_mail_folder_is_a_warning_and_keeps_the_older_archives(  # type: ignore[no-untyped-def]
    admin_client, policy: BackupPolicy, mail_dir: Path, settings
) -> None:
    services.backup_start(policy=policy, actor=ADMIN)
    run_jobs()
    policy.keep_last, policy.keep_daily, policy.keep_weekly, policy.keep_monthly = 1, 0, 0, 0
    policy.save()
    settings.DMS_MAIL_DIR = mail_dir.parent / "not-mounted"
    run = services.backup_start(policy=policy, actor=ADMIN)
    run_jobs()
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.result["missing"] == ["mail"] and "not-mounted is not there" in run.result["warnings"][0]
    assert "Warning: mail folder missing; retention skipped." in run.message
    assert BackupArchive.objects.count() == 2  # the archive with the mail is kept
    page = admin_client.get(f"/jobs/{run.id}/").content.decode()
    assert '<p class="flash warn" role="alert">The mail folder' in page


def test_a_backup_of_folders_that_are_all_missing_fails_and_writes_nothing(
    policy: BackupPolicy, dest: Path, mail_dir: Path
) -> None:
    policy.include_state = policy.include_config = False
    policy.save()
    mail_dir.rename(mail_dir.parent / "mail-gone")  # the volume was not mounted
    run = services.backup_start(policy=policy, actor=ADMIN)
    run_jobs()
    run.refresh_from_db()
    assert run.status == "failed" and "is not there" in run.error and "nothing was written" in run.error
    assert not BackupArchive.objects.exists() and list(dest.iterdir()) == list(dest.glob(".dms-admin-policy-*.lock"))
