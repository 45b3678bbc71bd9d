"""A DKIM key deleted for OpenDKIM, applied to the real test mail image (ENABLE_OPENDKIM=1): the
re-created container's OpenDKIM no longer has it, still runs, and signs with the keys that are left."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import django_rq
import docker
import pytest
from django_rq import get_worker
from docker.models.containers import Container

from accounts import domains
from dms_admin import changes as services
from dms_admin.audit import Actor
from dms_admin.dms import get_mailserver
from dms_admin.models import JobRun
from tests.realenv.fixtures import _run_mail_container

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]
ADMIN = Actor(name="admin")


@pytest.fixture
def opendkim_container(
    docker_client: docker.DockerClient, mail_image: str, config_dir: Path, tmp_path: Path
) -> Iterator[Container]:
    """The mail container with OpenDKIM, started with keys for example.test and other.test."""
    for domain in ("example.test", "other.test"):
        domains.dkim_generate(domain=domain, bits=1024, actor=ADMIN)
    yield from _run_mail_container(
        docker_client, mail_image, config_dir, tmp_path, network_mode="none", env={"ENABLE_OPENDKIM": "1"}
    )


@pytest.fixture(autouse=True)
def _real_services(settings, docker_engine, opendkim_container, redis_url):  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = docker_engine.host
    settings.DMS_CONTAINER_NAME = opendkim_container.name
    settings.DMS_CONTAINER_LABEL = ""
    settings.RQ_QUEUES = {name: {"URL": redis_url, "DEFAULT_TIMEOUT": 600} for name in ("default", "backups")}
    settings.DMS_APPLY_HEALTH_TIMEOUT = 90
    django_rq.get_queue("default").empty()


def signature_of(tmp_path: Path, sender_domain: str, tag: str) -> str | None:
    """Send a local mail from `sender_domain` to user@example.test; its DKIM-Signature's d= (None: unsigned)."""
    subject = f"dkim check {tag} {sender_domain}"
    message = f"From: someone@{sender_domain}\nTo: user@example.test\nSubject: {subject}\n\nHello.\n"
    command = ["bash", "-c", 'printf "%s" "$1" | sendmail -f "$2" user@example.test', "bash", message]
    result = get_mailserver().exec([*command, f"someone@{sender_domain}"], timeout=30)
    assert result.ok, result.output
    inbox = tmp_path / "mail" / "example.test" / "user" / "new"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for path in inbox.glob("*") if inbox.exists() else []:
            text = path.read_text(errors="replace")
            if f"Subject: {subject}" in text:
                head = text.split("\n\n", 1)[0]
                for line in head.replace("\n\t", " ").replace("\n ", " ").splitlines():
                    if line.startswith("DKIM-Signature:"):
                        return next(p.strip()[2:] for p in line.split(";") if p.strip().startswith("d="))
                return None
        time.sleep(0.3)
    raise AssertionError(f"the mail {subject!r} was not delivered")


def run_apply() -> None:
    run = services.apply_start(actor=ADMIN)
    get_worker("default", worker_class="rq.worker.SimpleWorker").work(burst=True)
    run.refresh_from_db()
    assert run.status == JobRun.Status.SUCCEEDED, run.error


def test_a_deleted_key_is_gone_from_opendkim_after_the_apply(tmp_path: Path, config_dir: Path) -> None:
    assert signature_of(tmp_path, "other.test", "before") == "other.test"
    assert signature_of(tmp_path, "example.test", "before") == "example.test"

    saved = domains.dkim_delete(domain="other.test", actor=ADMIN)
    assert saved.outcome and (saved.outcome.apply, saved.outcome.pending) == ("recreate", True)
    old_id = get_mailserver().status().id
    run_apply()

    new = get_mailserver().status()
    assert new.id != old_id and new.healthy  # healthy: OpenDKIM runs and listens (dms-test-healthcheck)
    keytable = inside(["cat", "/etc/opendkim/KeyTable"])
    signingtable = inside(["cat", "/etc/opendkim/SigningTable"])
    assert "other.test" not in keytable and "example.test:mail:/etc/opendkim/keys/example.test/mail.private" in keytable
    assert signingtable.strip() == "*@example.test mail._domainkey.example.test"
    assert not get_mailserver().exec(["test", "-e", "/etc/opendkim/keys/other.test"], timeout=10).ok
    # Every key the tables name is there and OpenDKIM can use it: mail from example.test is still
    # signed, mail from other.test no longer is.
    assert signature_of(tmp_path, "example.test", "after") == "example.test"
    assert signature_of(tmp_path, "other.test", "after") is None
    assert inside(["supervisorctl", "status", "opendkim"]).split()[:2] == ["opendkim", "RUNNING"]

    # The last key: the tables stay, empty (emptyfiles.RULES), and OpenDKIM starts with them.
    domains.dkim_delete(domain="example.test", actor=ADMIN)
    assert (config_dir / "opendkim" / "KeyTable").read_text() == ""
    run_apply()
    assert get_mailserver().status().healthy
    assert inside(["cat", "/etc/opendkim/KeyTable"]) == "" and inside(["ls", "/etc/opendkim/keys"]) == ""
    assert signature_of(tmp_path, "example.test", "none left") is None


def inside(command: list[str]) -> str:
    result = get_mailserver().exec(command, timeout=30)
    assert result.ok, result.output
    return result.output
