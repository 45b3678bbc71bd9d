"""The DMS-like test mail image behaves like docker-mailserver where the dashboard looks.

Runs against real Postfix, Dovecot and SpamAssassin in a container of the
test dockerd; needs the fixtures of ``tests.realenv.fixtures``.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import docker
import pytest
from docker.models.containers import Container
from passlib.hash import sha512_crypt

from tests.realenv.containers import container_logs, exec_checked, wait_for

CONFIG_MOUNT = "/tmp/docker-mailserver"
CHKSUM_FILE = "/tmp/docker-mailserver-config-chksum"
BAYES_DIR = "/var/mail-state/lib-amavis/.spamassassin"

SPAM_MESSAGE = """\
From: "Prize Office" <winner@spam.test>
To: user@example.test
Subject: You have WON a million dollars, claim your prize now
Message-ID: <prize-1@spam.test>
Date: Mon, 01 Jan 2024 00:00:00 +0000
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

Congratulations!!! Click here to claim your cheap viagra and your million
dollar prize. Act now, this offer expires today. 100% free, no risk.
"""


def dms_password_hash(password: str) -> str:
    """A password hash as DMS' `setup email add` writes it."""
    hashed: str = sha512_crypt.using(rounds=5000).hash(password)
    return "{SHA512-CRYPT}" + hashed


def atomic_write(path: Path, text: str) -> None:
    """Write like an editor or the dashboard would: temp file + rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A minimal DMS config folder: one account, user@example.test / secret."""
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "postfix-accounts.cf").write_text(f"user@example.test|{dms_password_hash('secret')}\n")
    return folder


def doveadm_auth(container: Container, user: str, password: str) -> int:
    result = container.exec_run(["doveadm", "auth", "test", user, password])
    return int(result.exit_code)


def read_checksums(container: Container) -> str:
    return exec_checked(container, ["cat", CHKSUM_FILE])


def sha512_line(path: Path) -> str:
    """The line `sha512sum /tmp/docker-mailserver/<file>` prints for ``path``."""
    return f"{hashlib.sha512(path.read_bytes()).hexdigest()}  {CONFIG_MOUNT}/{path.name}"


def test_container_is_healthy_and_looks_like_dms(mail_container: Container, config_dir: Path) -> None:
    mail_container.reload()
    assert mail_container.attrs["State"]["Health"]["Status"] == "healthy"
    config = mail_container.attrs["Config"]
    assert "DMS_RELEASE=v15.1.0" in config["Env"]
    assert config["Labels"]["org.opencontainers.image.version"] == "15.1.0"
    assert config["Labels"]["dms-admin.test"] == "1"
    assert config["Hostname"] == "mail.example.test"

    status = exec_checked(mail_container, ["supervisorctl", "status"])
    for program in ("postfix", "dovecot", "changedetector"):
        assert any(line.split()[:2] == [program, "RUNNING"] for line in status.splitlines()), status

    exec_checked(mail_container, ["test", "-f", "/CONTAINER_START"])
    # The initial checksum file is written at start-up, in sha512sum format.
    assert read_checksums(mail_container).strip() == sha512_line(config_dir / "postfix-accounts.cf")
    assert exec_checked(mail_container, ["postconf", "-h", "myhostname"]).strip() == "mail.example.test"
    # The Maildir tree of the account exists and belongs to docker (5000).
    owner = exec_checked(mail_container, ["stat", "-c", "%u:%g", "/var/mail/example.test/user/home"])
    assert owner.strip() == "5000:5000"
    exec_checked(mail_container, ["spamassassin", "--lint"])


def test_doveadm_auth(mail_container: Container) -> None:
    assert doveadm_auth(mail_container, "user@example.test", "secret") == 0
    assert doveadm_auth(mail_container, "user@example.test", "wrong") != 0
    assert doveadm_auth(mail_container, "nobody@example.test", "secret") != 0


def test_account_change_is_picked_up_without_restart(mail_container: Container, config_dir: Path) -> None:
    mail_container.reload()
    started_at = mail_container.attrs["State"]["StartedAt"]
    accounts = config_dir / "postfix-accounts.cf"
    # A bare `$6$` hash (no {SHA512-CRYPT} prefix) works too: default scheme.
    bare_hash = sha512_crypt.using(rounds=5000).hash("other-secret")
    atomic_write(accounts, accounts.read_text() + f"second@example.test|{bare_hash}\n")
    expected = sha512_line(accounts)

    began = time.monotonic()
    wait_for(lambda: expected in read_checksums(mail_container), timeout=10, what="checksum update")
    elapsed = time.monotonic() - began

    assert doveadm_auth(mail_container, "second@example.test", "other-secret") == 0
    assert doveadm_auth(mail_container, "user@example.test", "secret") == 0
    vmailbox = exec_checked(mail_container, ["cat", "/etc/postfix/vmailbox"])
    assert "second@example.test example.test/second/" in vmailbox
    # The detector releases its lock before writing the new checksum.
    assert mail_container.exec_run(["test", "-e", f"{CONFIG_MOUNT}/check-for-changes.sh.lock"]).exit_code != 0

    logs = container_logs(mail_container, tail=500)
    assert "Change detected" in logs
    assert "Completed handling of detected change" in logs
    detector_log = exec_checked(mail_container, ["cat", "/var/log/supervisor/changedetector.log"])
    assert "Change detected" in detector_log

    mail_container.reload()
    assert mail_container.attrs["State"]["StartedAt"] == started_at
    assert mail_container.attrs["State"]["Health"]["Status"] == "healthy"
    print(f"change picked up after {elapsed:.1f} s")


def test_postfix_reload(mail_container: Container) -> None:
    result = mail_container.exec_run(["postfix", "reload"])
    assert result.exit_code == 0, result.output


def test_sa_learn(mail_container: Container) -> None:
    exec_checked(mail_container, ["mkdir", "-p", "/tmp/spam"])
    exec_checked(mail_container, ["sh", "-c", f"cat > /tmp/spam/1.eml <<'EOF'\n{SPAM_MESSAGE}EOF"])
    exec_checked(mail_container, ["sa-learn", "--spam", "/tmp/spam", "--dbpath", BAYES_DIR])
    dump = exec_checked(mail_container, ["sa-learn", "--dump", "magic", "--dbpath", BAYES_DIR])
    nspam = next(line for line in dump.splitlines() if line.endswith("non-token data: nspam"))
    assert nspam.split()[2] == "1", dump


def test_docker_stop_is_fast(mail_container: Container, docker_client: docker.DockerClient) -> None:
    began = time.monotonic()
    mail_container.stop(timeout=10)
    elapsed = time.monotonic() - began
    mail_container.reload()
    assert mail_container.status == "exited"
    assert elapsed < 8, f"docker stop took {elapsed:.1f} s"
    print(f"docker stop took {elapsed:.1f} s")
