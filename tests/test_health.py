"""The health page and API: pure checks on sample data, then against the real test mail container."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from dms_admin.dms import get_mailserver
from dms_admin.models import JobRun
from dms_admin.ops import health
from tests.ops_helpers import UNREACHABLE, api_client, put_file, use_real_engine, write_log
from tests.test_logscan import SAMPLES

pytestmark = [pytest.mark.django_db]

GB = 1024**3

# As DMS v15 prints it: disabled features are STOPPED "Not started".
SUPERVISORCTL = """\
amavis                           RUNNING   pid 812, uptime 2:01:33
changedetector                   RUNNING   pid 830, uptime 2:01:30
clamav                           STOPPED   Not started
cron                             RUNNING   pid 790, uptime 2:01:35
dovecot                          RUNNING   pid 801, uptime 2:01:34
fail2ban                         STOPPED   Not started
mailserver                       RUNNING   pid 15, uptime 2:01:40
opendkim                         BACKOFF   Exited too quickly (process log may have details)
opendmarc                        RUNNING   pid 805, uptime 2:01:34
postfix                          RUNNING   pid 820, uptime 2:01:32
rsyslog                          RUNNING   pid 780, uptime 2:01:36
"""


# ---- pure --------------------------------------------------------------------------------------


def test_supervisorctl_output_is_parsed_and_compared_with_the_expected_set() -> None:
    rows = health.parse_supervisorctl(SUPERVISORCTL)
    assert ("opendkim", "BACKOFF", "Exited too quickly (process log may have details)") in rows
    assert ("clamav", "STOPPED", "Not started") in rows and len(rows) == 11
    values = health.effective_settings({"DMS_RELEASE": "v15.1.0", "ENABLE_CLAMAV": ""}, None)
    expected = health.expected_programs(values, [r[0] for r in rows])
    assert expected == ["cron", "rsyslog", "postfix", "changedetector", "dovecot", "opendkim", "opendmarc", "amavis"]
    check, programs = health.programs_check(rows, expected)
    assert check.status == health.ERROR and "Not running: opendkim BACKOFF" in check.details
    assert check.message == "7 of 8 expected services running" and "supervisorctl restart" in check.fix
    by_name = {p.name: p for p in programs}
    assert by_name["clamav"].expected is False and by_name["opendkim"].expected is True


def test_the_expected_set_follows_the_settings_like_dms_healthcheck() -> None:
    dms_settings = "ENABLE_AMAVIS='0'\nENABLE_OPENDKIM='0'\nENABLE_OPENDMARC='0'\nSMTP_ONLY='1'\nENABLE_RSPAMD='1'\n"
    values = health.effective_settings({"ENABLE_AMAVIS": "1"}, dms_settings)  # the file wins
    assert health.expected_programs(values, []) == ["cron", "rsyslog", "postfix", "changedetector", "rspamd"]
    values = health.effective_settings(
        {"ENABLE_RSPAMD": "1", "ENABLE_FETCHMAIL": "1", "ENABLE_SASLAUTHD": "1", "SASLAUTHD_MECHANISMS": "ldap"}, None
    )
    expected = health.expected_programs(values, ["fetchmail-1", "fetchmail-2", "postfix"])
    assert {"rspamd-redis", "rspamd", "saslauthd_ldap", "fetchmail-1", "fetchmail-2"} <= set(expected)
    check, _ = health.programs_check([("postfix", "STARTING", "")], ["postfix", "cron"])
    assert check.status == health.WARN and "Expected but not a program of this image: cron" in check.details


def test_clamav_with_less_than_1_5_gb_warns_with_the_numbers() -> None:
    check = health.memory_check(700 * 1024**2, 1 * GB, {"ENABLE_CLAMAV": "1"})
    assert check.status == health.WARN
    assert "1 GB" in check.message and "700 MB" in check.message and "1 GB RAM plus swap" in check.fix
    assert health.memory_check(700 * 1024**2, 1 * GB, {"ENABLE_CLAMAV": "0"}).ok
    assert health.memory_check(700 * 1024**2, 4 * GB, {"ENABLE_CLAMAV": "1"}).ok
    full = health.memory_check(int(0.95 * GB), 1 * GB, {})
    assert full.status == health.WARN and "nearly full" in full.message


def test_clock_differences_and_time_zones(settings) -> None:  # type: ignore[no-untyped-def]
    now = time.time()
    assert health.clock_check(now + 0.4, "+0000", now, 0.05).ok
    late = health.clock_check(now - 30, "+0000", now, 0.05)
    assert late.status == health.WARN and "30 s behind" in late.message and "/etc/localtime" in late.fix
    assert health.clock_check(now + 600, "+0000", now, 0.05).status == health.ERROR
    zone = health.clock_check(now, "+0200", now, 0.05)
    assert zone.status == health.WARN and "UTC+02:00" in zone.message and "/etc/localtime" in zone.fix


def _archive(at):  # type: ignore[no-untyped-def]
    from backups.models import BackupArchive, BackupPolicy

    policy, _ = BackupPolicy.objects.get_or_create(name="nightly", defaults={"destination": "/backups/nightly"})
    return BackupArchive.objects.create(policy=policy, path=f"/backups/nightly/{at:%s}.tar.gz", created_at=at)


def _age_checks() -> dict[str, health.Check]:
    from backups.health import checks as backup_checks
    from spam.health import checks as training_checks

    return {c.id: c for c in backup_checks() + training_checks()}


def test_backup_and_training_ages_say_never_then_the_age_and_a_failure() -> None:
    checks = _age_checks()
    assert checks["backup"].message.startswith("never") and checks["backup"].status == health.WARN
    assert "No backup schedule" in checks["backup"].message
    assert checks["training"].message.startswith("never")
    finished = timezone.now() - timedelta(hours=3)
    JobRun.objects.create(kind="backup", status="succeeded", finished_at=finished, created_at=finished)
    _archive(finished)
    JobRun.objects.create(kind="spam-train", status="succeeded", finished_at=finished, created_at=finished)
    checks = _age_checks()
    # The policy has a schedule: the line says when the next backup runs.
    assert checks["backup"].ok and checks["backup"].message.startswith("3\xa0hours ago")
    assert "Next backup: " in checks["backup"].message and "No training schedule" in checks["training"].message
    assert checks["training"].ok and checks["training"].message.startswith("3\xa0hours ago")
    JobRun.objects.create(kind="backup", status="failed", error="Traceback…\nOSError: disk full")
    backup = _age_checks()["backup"]
    assert backup.status == health.WARN and "disk full" in backup.message and "3\xa0hours ago" in backup.message
    JobRun.objects.filter(kind="backup").delete()
    from backups.models import BackupArchive

    BackupArchive.objects.all().delete()
    old = timezone.now() - timedelta(days=20)
    JobRun.objects.create(kind="backup", status="succeeded", finished_at=old, created_at=old)
    _archive(old)
    backup = _age_checks()["backup"]
    assert backup.status == health.WARN and "older than 8 days" in backup.message


# ---- Redis and workers ---------------------------------------------------------------------------


def test_redis_unreachable_is_an_error_not_a_500(settings) -> None:  # type: ignore[no-untyped-def]
    settings.RQ_QUEUES = {"default": {"URL": "redis://127.0.0.1:1/0"}}
    checks = {c.id: c for c in health.redis_checks()}
    assert checks["redis"].status == health.ERROR and "cannot be reached" in checks["redis"].message
    assert checks["workers"].status == health.ERROR


def test_workers_alive_are_seen_through_real_redis(settings, redis_url) -> None:  # type: ignore[no-untyped-def]
    import redis
    from rq import Worker

    settings.RQ_QUEUES = {name: {"URL": redis_url} for name in ("default", "backups")}
    connection = redis.Redis.from_url(redis_url)
    for worker in Worker.all(connection=connection):
        worker.register_death()
    checks = {c.id: c for c in health.redis_checks()}
    assert checks["redis"].ok and checks["workers"].status == health.ERROR
    assert "No worker is running" in checks["workers"].message
    worker = Worker(["default"], connection=connection, name="health-test")
    worker.register_birth()
    try:
        workers = next(c for c in health.redis_checks() if c.id == "workers")
        assert workers.status == health.WARN and "No worker serves backups" in workers.message
        both = Worker(["default", "backups"], connection=connection, name="health-test-2")
        both.register_birth()
        workers = next(c for c in health.redis_checks() if c.id == "workers")
        assert workers.ok and "2 worker(s) alive" in workers.message
        both.register_death()
    finally:
        worker.register_death()


# ---- the real container ------------------------------------------------------------------------------


@pytest.fixture
def real(settings, docker_engine, mail_container, redis_url):  # type: ignore[no-untyped-def]
    use_real_engine(settings, docker_engine, mail_container)
    settings.RQ_QUEUES = {name: {"URL": redis_url} for name in ("default", "backups")}
    return mail_container


@pytest.mark.docker
def test_health_of_the_real_container(admin_client, real) -> None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    report = health.health_report()
    elapsed = time.monotonic() - started
    checks = {c.id: c for c in report.checks}
    assert report.reachable and checks["container"].ok and "up " in checks["container"].message
    assert checks["version"].ok and "v15.1.0" in checks["version"].message
    # supervisorctl status parsed from the real image: its three programs run; the DMS services the
    # default settings expect (cron, rsyslog, opendkim, …) are not programs of this test image.
    states = {p.name: p.state for p in report.programs}
    assert states == {"postfix": "RUNNING", "dovecot": "RUNNING", "changedetector": "RUNNING"}
    assert checks["services"].status == health.WARN and "opendkim" in checks["services"].details[0]
    assert checks["clock"].ok, checks["clock"].message
    assert checks["memory"].ok and "Using" in checks["memory"].message
    assert checks["config"].ok and checks["logs"].ok
    assert checks["backup"].message.startswith("never") and checks["training"].message.startswith("never")
    print(f"health report: {elapsed:.2f} s")
    assert elapsed < 10, elapsed

    page = admin_client.get(reverse("health"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="program-postfix"' in html and "v15.1.0" in html and "Mail container unreachable" not in html
    body = api_client().get("/api/v1/health/").json()
    assert body["reachable"] is True and body["ok"] is False  # no worker runs here, and the services warn
    by_id = {c["id"]: c for c in body["checks"]}
    assert by_id["clock"]["ok"] is True and by_id["clock"]["message"]
    assert all({"ok", "message", "status", "fix"} <= set(c) for c in body["checks"])


@pytest.mark.docker
def test_a_skewed_clock_is_reported_with_the_faq_fix(real) -> None:  # type: ignore[no-untyped-def]
    check = health._clock(get_mailserver(), now=lambda: time.time() + 120)
    assert check.status == health.ERROR and "120 s behind" in check.message
    assert "/etc/localtime:/etc/localtime:ro" in check.fix


@pytest.mark.docker
def test_known_errors_in_the_log_show_on_the_health_page_with_their_fix(admin_client, real) -> None:  # type: ignore[no-untyped-def]
    write_log(real, SAMPLES["opendkim-down"], SAMPLES["clamav-down"], SAMPLES["lock-file"])
    html = admin_client.get(reverse("health")).content.decode()
    for error_id in ("opendkim-down", "clamav-down", "lock-file"):
        assert f'id="check-log{error_id}"' in html, error_id
    assert "OpenDKIM is not running" in html and "supervisorctl restart opendkim" in html
    assert SAMPLES["opendkim-down"].split(": ", 1)[1][:40] in html
    body = api_client().get("/api/v1/health/").json()
    logs = {c["id"]: c for c in body["checks"] if c["id"].startswith("log:")}
    assert set(logs) == {"log:opendkim-down", "log:clamav-down", "log:lock-file"}
    assert logs["log:opendkim-down"]["status"] == "error" and logs["log:lock-file"]["status"] == "warn"


@pytest.mark.docker
def test_clamav_on_with_a_small_memory_limit_warns(real) -> None:  # type: ignore[no-untyped-def]
    # /etc/dms-settings is what DMS writes with the effective settings; the health page reads it.
    put_file(real, "/etc/dms-settings", "ENABLE_CLAMAV='1'\nENABLE_AMAVIS='0'\nENABLE_OPENDKIM='0'\n")
    real.update(mem_limit="1g", memswap_limit="2g")
    report = health.health_report()
    checks = {c.id: c for c in report.checks}
    assert checks["memory"].status == health.WARN, checks["memory"].message
    assert "ClamAV is on" in checks["memory"].message and "1 GB" in checks["memory"].message
    assert "clamav" in checks["services"].details[-1]  # expected now, and not in this image


@pytest.mark.docker
def test_a_stopped_container_is_an_error_on_a_page_that_still_renders(admin_client, real) -> None:  # type: ignore[no-untyped-def]
    real.stop(timeout=5)
    page = admin_client.get(reverse("health"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "is exited" in html and 'data-status="error"' in html
    body = api_client().get("/api/v1/health/").json()
    assert body["reachable"] is True and body["status"] == "error"


def test_engine_unreachable_the_page_renders_the_unreachable_state(settings, admin_client) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = UNREACHABLE
    settings.RQ_QUEUES = {"default": {"URL": "redis://127.0.0.1:1/0"}}
    page = admin_client.get(reverse("health"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="unreachable"' in html and "Mail container unreachable" in html and "DOCKER_HOST" in html
    assert 'id="check-config"' in html  # the dashboard's own checks still run
    body = api_client().get("/api/v1/health/").json()
    assert body["reachable"] is False and body["ok"] is False
    assert body["checks"][0]["id"] == "container" and "cannot be reached" in body["checks"][0]["message"]


def test_health_needs_a_login(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get(reverse("health"))["Location"].startswith("/login/")
    assert client.get("/api/v1/health/").status_code == 401  # api.md: 401 for no token
