"""The apply planner and apply job against the real test mail container, Redis and RQ."""

from __future__ import annotations

import django_rq
import pytest
from django_rq import get_worker

from conftest import TEST_HASH
from dms_admin import changes as services
from dms_admin.audit import Actor
from dms_admin.configstore import ConfigStore
from dms_admin.dms import DockerUnavailable, get_mailserver
from dms_admin.jobqueue import JobConflict
from dms_admin.models import JobRun, PendingChange

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]

ADMIN = Actor(name="admin")


@pytest.fixture(autouse=True)
def _real_services(settings, docker_engine, mail_container, redis_url):  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = docker_engine.host
    settings.DMS_CONTAINER_NAME = mail_container.name
    settings.DMS_CONTAINER_LABEL = ""
    settings.RQ_QUEUES = {name: {"URL": redis_url, "DEFAULT_TIMEOUT": 600} for name in ("default", "backups")}
    settings.DMS_APPLY_HEALTH_TIMEOUT = 60
    django_rq.get_queue("default").empty()  # nothing left over from an earlier test


def run_jobs() -> None:
    get_worker("default", worker_class="rq.worker.SimpleWorker").work(burst=True)


def doveadm_auth(address: str, password: str) -> bool:
    return get_mailserver().exec(["doveadm", "auth", "test", address, password], timeout=20).ok


def test_a_watched_file_is_applied_by_dms_without_a_restart(store: ConfigStore) -> None:
    started = get_mailserver().status().started_at
    with store.change(actor="admin", message="Add new@example.test") as change:
        change.write("postfix-accounts.cf", change.read("postfix-accounts.cf") + f"new@example.test|{TEST_HASH}\n")
    outcome = services.change_recorded(change.result, actor=ADMIN, action="mailbox.create", object="new@example.test")  # type: ignore[arg-type]
    assert (outcome.apply, outcome.pending) == ("watched", False)
    run_jobs()
    run = JobRun.objects.get(kind="confirm")
    assert run.status == "succeeded", run.error
    assert run.result == {"applied": {"postfix-accounts.cf": True}}
    assert doveadm_auth("new@example.test", "secret")
    assert get_mailserver().status().started_at == started  # no restart


def test_an_access_table_is_applied_by_postfix_reload(store: ConfigStore, config_dir) -> None:  # type: ignore[no-untyped-def]
    # The file existed at container start (DMS hooks it into Postfix only then).
    assert (config_dir / "postfix-send-access.cf").exists()
    result = store.write("postfix-send-access.cf", "spammer@example.test REJECT\n", actor="admin", message="restrict")
    outcome = services.change_recorded(result, actor=ADMIN, action="restriction.add")
    assert (outcome.apply, outcome.pending) == ("reload", False)
    assert not PendingChange.objects.exists()


def test_an_env_change_is_pending_until_the_apply_job_recreates_the_container(store: ConfigStore) -> None:
    old = get_mailserver().status()
    result = store.write(
        "mailserver.env",
        store.read("mailserver.env") + "POSTMASTER_ADDRESS=pm@example.test\n",
        actor="admin",
        message="postmaster",
    )
    outcome = services.change_recorded(result, actor=ADMIN, action="settings.update")
    assert (outcome.apply, outcome.pending) == ("recreate", True)
    assert PendingChange.objects.get().path == "mailserver.env"
    run = services.apply_start(actor=ADMIN)
    run_jobs()
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.progress == 100 and run.result["action"] == "recreate"
    new = get_mailserver().status()
    assert new.id != old.id and new.healthy
    env = get_mailserver().exec(["printenv", "POSTMASTER_ADDRESS"], timeout=10)
    assert env.output.strip() == "pm@example.test"
    assert not PendingChange.objects.exists()


def test_apply_is_refused_when_the_container_is_missing(settings, store: ConfigStore) -> None:
    result = store.write("dovecot.cf", "mail_max_userip_connections = 50\n", actor="admin", message="dovecot")
    services.change_recorded(result, actor=ADMIN, action="override.update")
    settings.DMS_CONTAINER_NAME = "no-such-container"
    with pytest.raises(DockerUnavailable, match="not found"):
        services.apply_start(actor=ADMIN)
    assert not JobRun.objects.filter(kind="apply").exists()
    assert PendingChange.objects.filter(path="dovecot.cf").exists()


def test_a_setting_that_breaks_the_start_is_reverted(settings, store: ConfigStore) -> None:  # type: ignore[no-untyped-def]
    settings.DMS_APPLY_HEALTH_TIMEOUT = 12
    before_env = store.read("mailserver.env")
    # The settings editor refuses that value, so write it as a hand edit would: DMS panics on it.
    result = store.write("mailserver.env", before_env + "LOGROTATE_INTERVAL=hourly\n", actor="admin", message="bad")
    services.change_recorded(result, actor=ADMIN, action="settings.update")
    run = services.apply_start(actor=ADMIN)
    run_jobs()
    run.refresh_from_db()
    assert run.status == "failed" and "previous configuration was put back" in run.error
    assert "LOGROTATE_INTERVAL 'hourly'" in run.error  # the relevant log line is in the report
    assert run.result["action"] == "reverted"
    assert store.read("mailserver.env") == before_env  # the file is back, as a new commit
    assert store.history(limit=1)[0].message.startswith("Revert")
    status = get_mailserver().status()
    assert status.healthy
    assert "LOGROTATE_INTERVAL" not in get_mailserver().env()
    assert not PendingChange.objects.exists()


def test_only_one_apply_at_a_time(store: ConfigStore) -> None:
    result = store.write("dovecot.cf", "mail_max_userip_connections = 20\n", actor="admin", message="dovecot")
    services.change_recorded(result, actor=ADMIN, action="override.update")
    services.apply_start(actor=ADMIN)
    with pytest.raises(JobConflict):
        services.apply_start(actor=ADMIN)
