"""Mailboxes against the real test mail image: IMAP logins, doveadm, no restarts."""

from __future__ import annotations

import contextlib
import imaplib
import time

import pytest
from rest_framework.test import APIClient

from access.tokens import token_create
from accounts import services
from dms_admin.audit import Actor
from dms_admin.dms import MailServer

pytestmark = [pytest.mark.docker, pytest.mark.django_db]
ADMIN = Actor(name="admin")


@pytest.fixture
def served(settings, docker_engine, mail_container_served):  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = docker_engine.host
    settings.DMS_CONTAINER_NAME = mail_container_served.container.name
    return mail_container_served


def imap_login(port: int, user: str, password: str) -> bool:
    """Whether IMAP accepts the login now. A dropped connection counts as "not yet": Dovecot closes
    clients while it reloads after the change detector regenerated its users."""
    try:
        imap = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    except OSError:
        return False
    try:
        imap.login(user, password)
        return True
    except (imaplib.IMAP4.error, OSError):  # IMAP4.abort is an IMAP4.error
        return False
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            imap.logout()


def eventually(check, timeout: float = 15.0) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, "not within the time limit"
        time.sleep(0.3)
    return time.monotonic() - start


def test_a_mailbox_made_over_the_api_logs_in_over_imap_without_a_restart(served, docker_engine) -> None:  # type: ignore[no-untyped-def]
    mailserver = MailServer(name=served.container.name, base_url=docker_engine.host)
    started = mailserver.status().started_at
    _, secret = token_create(name="t", scope="write", actor=ADMIN)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = api.post(
        "/api/v1/mailboxes/", {"address": "imap@example.test", "password": "first-pass-1"}, format="json"
    )
    assert response.status_code == 201
    took = eventually(lambda: imap_login(served.imap_port, "imap@example.test", "first-pass-1"))
    assert took < 10

    services.mailbox_set_password(address="imap@example.test", password="second-pass-2", actor=ADMIN)
    eventually(lambda: imap_login(served.imap_port, "imap@example.test", "second-pass-2"))
    assert not imap_login(served.imap_port, "imap@example.test", "first-pass-1")
    assert mailserver.status().started_at == started


def test_doveadm_accepts_our_hash(served, config_dir) -> None:  # type: ignore[no-untyped-def]
    services.mailbox_create(address="hash@example.test", password="hash-pass-1", actor=ADMIN)
    lines = (config_dir / "postfix-accounts.cf").read_text().splitlines()
    line = next(x for x in lines if x.startswith("hash@"))
    hashed = line.split("|")[1]
    result = served.container.exec_run(["doveadm", "pw", "-t", hashed, "-p", "hash-pass-1"])
    assert result.exit_code == 0, result.output
    wrong = served.container.exec_run(["doveadm", "pw", "-t", hashed, "-p", "wrong"])
    assert wrong.exit_code != 0


def test_postmap_reads_our_alias_files(settings, docker_engine, mail_container, config_dir) -> None:  # type: ignore[no-untyped-def]
    services.alias_save(address="sales@example.test", targets=["user@example.test"], actor=ADMIN)
    services.alias_save(address="@example.test", targets=["user@example.test"], actor=ADMIN)
    services.regexp_save(pattern="^qa[0-9]+@example\\.test$", targets=["user@example.test"], actor=ADMIN)
    mount = "/tmp/docker-mailserver"
    check = mail_container.exec_run(["postmap", "-s", f"texthash:{mount}/postfix-virtual.cf"])
    assert check.exit_code == 0 and b"warning" not in check.output, check.output
    query = mail_container.exec_run(["postmap", "-q", "sales@example.test", f"texthash:{mount}/postfix-virtual.cf"])
    assert query.exit_code == 0 and query.output.decode().strip() == "user@example.test"
    regexp = mail_container.exec_run(["postmap", "-q", "qa42@example.test", f"pcre:{mount}/postfix-regexp.cf"])
    assert regexp.exit_code == 0 and regexp.output.decode().strip() == "user@example.test"  # no warnings either
