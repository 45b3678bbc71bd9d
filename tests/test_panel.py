from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse

from access.throttle import LOCKED_PREFIX
from conftest import ADMIN_PASSWORD
from dms_admin.configstore import ConfigStore
from dms_admin.models import AuditEntry, JobRun, PendingChange

pytestmark = pytest.mark.django_db

PAGES = ["home", "history-list", "audit-list", "apply"]


@pytest.fixture(autouse=True)
def _no_docker(settings):  # type: ignore[no-untyped-def]
    # Unit tests of the panel talk to no engine: an unreachable socket must give a message, not a 500.
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"


@pytest.mark.parametrize("name", PAGES)
def test_every_page_without_login_redirects_to_login(client, name: str) -> None:  # type: ignore[no-untyped-def]
    response = client.get(reverse(name))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_other_urls_without_login_redirect_too(client, store: ConfigStore) -> None:  # type: ignore[no-untyped-def]
    sha = store.record_external_changes()
    run = JobRun.objects.create(kind="apply")
    for url in (
        f"/history/{sha}/",
        f"/history/{sha}/rollback/",
        f"/jobs/{run.id}/",
        "/django-admin/",
        "/django-admin/rq/",
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url


def test_healthz_needs_no_login(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_login_then_home(client, superadmin) -> None:  # type: ignore[no-untyped-def]
    response = client.post(reverse("login"), {"username": "admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("home")
    page = client.get(reverse("home"))
    assert page.status_code == 200
    assert b"cannot be reached" in page.content  # no engine here: a message, not a 500
    assert AuditEntry.objects.filter(action="login", actor="admin").exists()


def test_login_redirects_only_to_local_next(client, superadmin) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        reverse("login"), {"username": "admin", "password": ADMIN_PASSWORD, "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("home")


def test_wrong_passwords_are_throttled_then_even_the_right_one_fails(client, superadmin, settings) -> None:  # type: ignore[no-untyped-def]
    settings.LOGIN_MAX_FAILURES = 3
    for _ in range(3):
        response = client.post(reverse("login"), {"username": "admin", "password": "wrong"})
        assert b"Wrong username or password" in response.content
    response = client.post(reverse("login"), {"username": "admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 200 and LOCKED_PREFIX.encode() in response.content
    assert "_auth_user_id" not in client.session
    # The same message for an account that does not exist: nothing leaks.
    for _ in range(3):
        client.post(reverse("login"), {"username": "ghost", "password": "x"})
    assert LOCKED_PREFIX.encode() in client.post(reverse("login"), {"username": "ghost", "password": "x"}).content


def test_logout_is_post_only(admin_client) -> None:  # type: ignore[no-untyped-def]
    assert admin_client.get(reverse("logout")).status_code == 405
    assert admin_client.post(reverse("logout")).status_code == 302
    assert admin_client.get(reverse("home")).status_code == 302


def test_history_lists_and_shows_diffs(admin_client, store: ConfigStore) -> None:  # type: ignore[no-untyped-def]
    result = store.write(
        "postfix-virtual.cf", "sales@example.test user@example.test\n", actor="alice", message="Add sales alias"
    )
    page = admin_client.get(reverse("history-list"))
    assert b"Add sales alias" in page.content and b"alice" in page.content
    detail = admin_client.get(reverse("history-detail", args=[result.sha]))
    assert b"+sales@example.test user@example.test" in detail.content
    assert admin_client.get(reverse("history-detail", args=["0" * 40])).status_code == 404
    assert admin_client.get(reverse("history-detail", args=["not-a-sha"])).status_code == 404


def test_rollback_confirms_on_get_and_acts_on_post(admin_client, store: ConfigStore, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    original = (config_dir / "postfix-virtual.cf").read_bytes()
    result = store.write(
        "postfix-virtual.cf", "sales@example.test user@example.test\n", actor="alice", message="Add sales alias"
    )
    count = store.count()
    confirm = admin_client.get(reverse("history-rollback", args=[result.sha]))
    assert confirm.status_code == 200 and b"-sales@example.test" in confirm.content
    assert store.count() == count  # GET changed nothing
    response = admin_client.post(reverse("history-rollback", args=[result.sha]))
    assert response.status_code == 302
    assert (config_dir / "postfix-virtual.cf").read_bytes() == original
    assert store.count() == count + 1
    entry = AuditEntry.objects.get(action="history.rollback")
    assert entry.actor == "admin" and entry.commit == store.history(limit=1)[0].sha
    # A watched file: DMS applies it itself, so a confirmation job was queued, nothing pending.
    assert JobRun.objects.filter(kind="confirm").exists() and not PendingChange.objects.exists()


def test_rollback_of_a_recreate_file_marks_it_pending(admin_client, store: ConfigStore) -> None:  # type: ignore[no-untyped-def]
    result = store.write("mailserver.env", "ENABLE_CLAMAV=1\n", actor="alice", message="ClamAV on")
    admin_client.post(reverse("history-rollback", args=[result.sha]))
    assert list(PendingChange.objects.values_list("path", "action")) == [("mailserver.env", "recreate")]
    home = admin_client.get(reverse("home"))
    assert b"1 file changed but not in use yet" in home.content


def test_apply_is_refused_with_the_reason_when_the_engine_is_unreachable(admin_client) -> None:  # type: ignore[no-untyped-def]
    PendingChange.objects.create(path="mailserver.env", action="recreate")
    page = admin_client.get(reverse("apply"))
    assert b"re-created" in page.content
    response = admin_client.post(reverse("apply"), follow=True)
    assert b"Not applied" in response.content and b"cannot be reached" in response.content
    assert not JobRun.objects.filter(kind="apply").exists() and PendingChange.objects.count() == 1


def test_job_progress_fragment_for_htmx(admin_client) -> None:  # type: ignore[no-untyped-def]
    run = JobRun.objects.create(kind="apply", status="running", progress=40, message="Waiting")
    fragment = admin_client.get(reverse("job-detail", args=[run.id]), HTTP_HX_REQUEST="true")
    assert b"<html" not in fragment.content and b'value="40"' in fragment.content and b"hx-get" in fragment.content
    run.status = "succeeded"
    run.save()
    assert b"hx-get" not in admin_client.get(reverse("job-detail", args=[run.id]), HTTP_HX_REQUEST="true").content


def test_audit_page_filters(admin_client) -> None:  # type: ignore[no-untyped-def]
    AuditEntry.objects.create(actor="alice", via="panel", action="history.rollback", object="abc")
    AuditEntry.objects.create(actor="bob", via="api", action="login")
    page = admin_client.get(reverse("audit-list"), {"actor": "alice"})
    assert b"history.rollback" in page.content and b"bob" not in page.content


def test_pages_carry_a_strict_content_security_policy(admin_client) -> None:  # type: ignore[no-untyped-def]
    page = admin_client.get(reverse("home"))
    policy = page["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert page["X-Frame-Options"] == "DENY"
    assert b"<script>" not in page.content and b" style=" not in page.content


def test_job_monitor_lists_filters_retries_and_cancels(admin_client) -> None:  # type: ignore[no-untyped-def]
    failed = JobRun.objects.create(
        kind="backup", status="failed", error="disk full", func="dms_admin.jobs.apply_job", args=[]
    )
    queued = JobRun.objects.create(kind="apply", status="queued")
    page = admin_client.get(reverse("job-list"))
    assert b"disk full" in page.content and b"Retry" in page.content and b"Cancel" in page.content
    assert b"disk full" not in admin_client.get(reverse("job-list"), {"kind": "apply"}).content
    live = admin_client.get(reverse("job-list"), HTTP_HX_REQUEST="true")
    assert b"<html" not in live.content and b'hx-trigger="every 2s"' in live.content  # a queued job: keep polling
    retried = admin_client.post(reverse("job-retry", args=[failed.id]))
    new = JobRun.objects.exclude(pk__in=[failed.pk, queued.pk]).get()
    assert retried["Location"] == reverse("job-detail", args=[new.id]) and new.func == failed.func
    admin_client.post(reverse("job-cancel", args=[queued.id]))
    queued.refresh_from_db()
    assert queued.status == "failed" and "Cancelled by admin" in queued.error
    assert admin_client.get(reverse("job-retry", args=[failed.id])).status_code == 405


def test_a_running_job_stops_at_its_next_stop_point_and_not_before(admin_client) -> None:  # type: ignore[no-untyped-def]
    from rest_framework.test import APIClient

    from dms_admin.jobqueue import JobStopped, job_running

    run = JobRun.objects.create(kind="backup", status="queued")
    apply = JobRun.objects.create(kind="apply", status="running")
    api = APIClient()
    api.force_authenticate(admin_client.get(reverse("home")).wsgi_request.user)
    assert api.post(f"/api/v1/jobs/{run.id}/stop/").status_code == 409  # queued: cancel it instead
    refused = api.post(f"/api/v1/jobs/{apply.id}/stop/")
    assert refused.status_code == 409 and "cannot be stopped midway" in refused.json()["error"]
    with pytest.raises(JobStopped), job_running(str(run.id)) as report:
        report.stop_point()  # nobody asked: goes on
        report.progress(40, "Halfway")
        assert b"Stop</button>" in admin_client.get(reverse("job-detail", args=[run.id])).content
        assert api.post(f"/api/v1/jobs/{run.id}/stop/").json()["status"] == "running"
        report.progress(50, "Still going")  # progress alone never interrupts
        report._stop_checked = float("-inf")
        report.stop_point()
    run.refresh_from_db()
    assert run.status == "failed" and run.error.startswith("Stopped by admin") and run.progress == 50
    assert AuditEntry.objects.filter(action="job.stop", object=f"backup {run.id}").exists()


def test_audit_csv_export_and_date_filter(admin_client) -> None:  # type: ignore[no-untyped-def]
    AuditEntry.objects.create(actor="alice", via="panel", action="mailbox.create", object="=cmd|evil")
    csv_page = admin_client.get(reverse("audit-list"), {"actor": "alice", "format": "csv"})
    body = b"".join(csv_page.streaming_content).decode()
    assert csv_page["Content-Type"] == "text/csv" and body.startswith("at,actor,via,ip,action,object,commit")
    assert "'=cmd|evil" in body  # no formula injection into spreadsheets
    assert b"mailbox.create" not in admin_client.get(reverse("audit-list"), {"since": "2999-01-01"}).content
    bad = admin_client.get(reverse("audit-list"), {"since": "yesterday"})
    assert bad.status_code == 200 and b"YYYY-MM-DD" in bad.content


def test_first_run_creates_the_first_admin_once(client, django_user_model) -> None:  # type: ignore[no-untyped-def]
    assert client.get(reverse("login"))["Location"] == reverse("first-run")
    weak = client.post(reverse("first-run"), {"username": "root", "password": "123", "password2": "123"})
    assert weak.status_code == 200 and not django_user_model.objects.exists()
    response = client.post(
        reverse("first-run"), {"username": "root", "password": ADMIN_PASSWORD, "password2": ADMIN_PASSWORD}
    )
    assert response["Location"] == reverse("home") and django_user_model.objects.get().is_superuser
    client.logout()
    # Once an admin exists, the page is gone: nobody can make a second one this way.
    assert client.get(reverse("first-run"))["Location"] == reverse("login")
    client.post(reverse("first-run"), {"username": "evil", "password": ADMIN_PASSWORD, "password2": ADMIN_PASSWORD})
    assert django_user_model.objects.count() == 1


def test_home_offers_the_first_mailbox_when_there_is_none(admin_client, config_dir) -> None:  # type: ignore[no-untyped-def]
    assert b"Create the first mailbox" not in admin_client.get(reverse("home")).content
    (config_dir / "postfix-accounts.cf").write_text("# nobody yet\n")
    page = admin_client.get(reverse("home"))
    assert b"Create the first mailbox" in page.content and b"two minutes" in page.content


def test_metrics_need_the_token(client, settings, superadmin) -> None:  # type: ignore[no-untyped-def]
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    settings.METRICS_TOKEN = "s3cret-metrics"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    PendingChange.objects.create(path="mailserver.env", action="recreate")
    body = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics").content.decode()
    assert "dms_admin_mailboxes 1\n" in body and "dms_admin_domains 1\n" in body
    assert "dms_admin_pending_changes 1\n" in body and "dms_admin_mailserver_healthy 0\n" in body
    assert "dms_admin_last_backup_age_seconds -1\n" in body and "# TYPE dms_admin_mailboxes gauge" in body


def test_home_shows_the_age_of_the_last_backup(admin_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from django.utils import timezone

    from backups.models import BackupArchive, BackupPolicy

    assert re.search(
        r'id="home-backup"[^>]*>.*?Last backup.*?never', admin_client.get(reverse("home")).content.decode(), re.S
    )
    policy = BackupPolicy.objects.create(name="nightly", destination=str(tmp_path))
    BackupArchive.objects.create(
        policy=policy, path=str(tmp_path / "a.tar.gz"), created_at=timezone.now() - timedelta(hours=3)
    )
    home = admin_client.get(reverse("home")).content.decode()
    assert re.search(r'id="home-backup"[^>]*>.*?Last backup.*?3\xa0hours ago', home, re.S)


def test_sign_out_everywhere_ends_the_other_sessions(superadmin) -> None:  # type: ignore[no-untyped-def]
    from django.test import Client

    laptop, phone = Client(), Client()
    laptop.force_login(superadmin)
    phone.force_login(superadmin)
    assert phone.get(reverse("home")).status_code == 200
    laptop.post(reverse("logout"), {"everywhere": "1"})
    assert phone.get(reverse("home"))["Location"].startswith("/login/")
    assert AuditEntry.objects.filter(action="logout.everywhere").exists()
