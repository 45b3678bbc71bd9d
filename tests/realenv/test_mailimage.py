"""The DMS-like test mail image behaves like docker-mailserver where the dashboard looks.

Runs against real Postfix, Dovecot (with Pigeonhole Sieve) and SpamAssassin in a container of the
test dockerd; needs the fixtures of ``tests.realenv.fixtures``.
"""

from __future__ import annotations

import base64
import contextlib
import email
import hashlib
import os
import smtplib
import socket
import time
from collections.abc import Iterator
from email.message import EmailMessage, Message
from pathlib import Path

import docker
import pytest
from docker.models.containers import Container
from passlib.hash import sha512_crypt

from tests.ops_helpers import put_file
from tests.realenv.containers import container_logs, exec_checked, wait_for
from tests.realenv.fixtures import ServedMailContainer, _run_mail_container
from tests.realenv.redis_server import free_port

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


# ---- Sieve (Pigeonhole), as DMS v15 runs it -------------------------------------------------------

OTHER = "other@example.test"
HOME = "/var/mail/example.test/user/home"
# `:create` belongs to the "mailbox" extension (RFC 5490): without it in `require`, Pigeonhole
# refuses the script, and a delivery falls back to INBOX.
FILEINTO_SCRIPT = (
    'require ["fileinto", "mailbox"];\nif header :contains "subject" "invoice" { fileinto :create "Invoices"; }\n'
)
FILEINTO_WITHOUT_MAILBOX = (
    'require "fileinto";\nif header :contains "subject" "invoice" { fileinto :create "Invoices"; }\n'
)
VACATION_SCRIPT = 'require "vacation";\nvacation :days 1 :subject "Out of office" "I am away until Monday.";\n'


@pytest.fixture
def two_mailboxes(config_dir: Path, request: pytest.FixtureRequest) -> ServedMailContainer:
    """user@ and other@example.test (both "secret") on a served container: the second one is there at start."""
    with (config_dir / "postfix-accounts.cf").open("a") as accounts:
        accounts.write(f"{OTHER}|{dms_password_hash('secret')}\n")
    served: ServedMailContainer = request.getfixturevalue("mail_container_served")
    return served


def put_home_script(container: Container, text: str) -> None:
    """The active script of user@example.test, written the way a user or DMS leaves it: owned by vmail."""
    put_file(container, f"{HOME}/.dovecot.sieve", text)
    exec_checked(container, ["chown", "5000:5000", f"{HOME}/.dovecot.sieve"])


def send_mail(port: int, sender: str, recipient: str, subject: str, message_id: str) -> None:
    """SMTP to the container's Postfix on loopback (permitted by mynetworks, like a local client)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message.set_content("Hello,\nthis is a test message.\n")
    with smtplib.SMTP("127.0.0.1", port, timeout=15) as smtp:
        smtp.send_message(message)


def maildir_messages(container: Container, address: str, folder: str = "") -> list[Message]:
    """The messages in new/ and cur/ of a Maildir folder (`.Name` below the account's Maildir)."""
    local, domain = address.split("@")
    root = f"/var/mail/{domain}/{local}/{folder}".rstrip("/")
    listing = container.exec_run(["find", f"{root}/new", f"{root}/cur", "-type", "f"])
    paths = sorted((listing.output or b"").decode().split())
    return [email.message_from_string(exec_checked(container, ["cat", path])) for path in paths if path.startswith("/")]


def queue_is_empty(container: Container) -> bool:
    return exec_checked(container, ["postqueue", "-j"]).strip() == ""


@pytest.mark.docker
def test_sievec_compiles_good_and_rejects_broken_scripts(mail_container: Container) -> None:
    exec_checked(mail_container, ["which", "sievec"])
    put_file(mail_container, "/tmp/good.sieve", FILEINTO_SCRIPT)
    exec_checked(mail_container, ["sievec", "/tmp/good.sieve"])
    exec_checked(mail_container, ["test", "-s", "/tmp/good.svbin"])

    put_file(mail_container, "/tmp/nomailbox.sieve", FILEINTO_WITHOUT_MAILBOX)
    result = mail_container.exec_run(["sievec", "/tmp/nomailbox.sieve"])
    output = result.output.decode()
    assert result.exit_code != 0, output
    assert "line 2: error: unknown tagged argument ':create'" in output, output

    put_file(mail_container, "/tmp/syntax.sieve", 'require "fileinto";\n\nif true { fileinto "Junk" }\n')
    result = mail_container.exec_run(["sievec", "/tmp/syntax.sieve"])
    output = result.output.decode()
    assert result.exit_code != 0, output
    assert "line 3: error:" in output, output
    assert mail_container.exec_run(["test", "-e", "/tmp/syntax.svbin"]).exit_code != 0


@pytest.mark.docker
def test_sieve_fileinto_files_smtp_delivery_into_maildir_folder(mail_container_served: ServedMailContainer) -> None:
    container = mail_container_served.container
    put_home_script(container, FILEINTO_SCRIPT)

    send_mail(
        mail_container_served.smtp_port, "boss@external.test", "user@example.test", "Your invoice 42", "<inv-42@x>"
    )
    send_mail(mail_container_served.smtp_port, "boss@external.test", "user@example.test", "Lunch?", "<lunch-1@x>")

    filed = wait_for(lambda: maildir_messages(container, "user@example.test", ".Invoices"), 20, what="filed mail")
    inbox = wait_for(lambda: maildir_messages(container, "user@example.test"), 20, what="inbox mail")
    assert [m["Message-ID"] for m in filed] == ["<inv-42@x>"]
    assert [m["Message-ID"] for m in inbox] == ["<lunch-1@x>"]
    # Compiled by LMTP as the vmail user, next to the script.
    assert exec_checked(container, ["stat", "-c", "%u:%g", f"{HOME}/.dovecot.svbin"]).strip() == "5000:5000"


@pytest.mark.docker
def test_sieve_vacation_answers_once_per_sender(two_mailboxes: ServedMailContainer) -> None:
    container, port = two_mailboxes.container, two_mailboxes.smtp_port
    put_home_script(container, VACATION_SCRIPT)

    send_mail(port, OTHER, "user@example.test", "First question", "<q-1@example.test>")
    wait_for(lambda: maildir_messages(container, OTHER), 20, what="vacation reply")
    send_mail(port, OTHER, "user@example.test", "Second question", "<q-2@example.test>")
    wait_for(lambda: len(maildir_messages(container, "user@example.test")) == 2, 20, what="second delivery")
    wait_for(lambda: queue_is_empty(container), 20, what="empty mail queue")

    replies = maildir_messages(container, OTHER)
    assert len(replies) == 1, [r["Subject"] for r in replies]
    reply = replies[0]
    assert reply["Subject"] == "Out of office"
    assert "user@example.test" in reply["From"]
    assert reply["In-Reply-To"] == "<q-1@example.test>"
    assert reply["Auto-Submitted"].startswith("auto-replied")
    assert "I am away until Monday." in reply.get_payload(decode=True).decode()
    assert "discarded duplicate vacation response" in container_logs(container, tail=300)


MANAGESIEVE_GREETING = "exec 3<>/dev/tcp/127.0.0.1/4190 && timeout 5 sed '/^OK/q' <&3"


@pytest.fixture
def managesieve_container(
    docker_client: docker.DockerClient, mail_image: str, config_dir: Path, tmp_path: Path
) -> Iterator[Container]:
    """The mail container with ENABLE_MANAGESIEVE=1: healthy means Dovecot listens on 4190."""
    yield from _run_mail_container(
        docker_client, mail_image, config_dir, tmp_path, network_mode="none", env={"ENABLE_MANAGESIEVE": "1"}
    )


@pytest.mark.docker
def test_managesieve_answers_with_enable_managesieve(managesieve_container: Container) -> None:
    greeting = exec_checked(managesieve_container, ["bash", "-c", MANAGESIEVE_GREETING])
    assert greeting.startswith('"IMPLEMENTATION" "Dovecot'), greeting
    sieve_line = next(line for line in greeting.splitlines() if line.startswith('"SIEVE" '))
    extensions = sieve_line.split('"')[3].split()
    for needed in ("fileinto", "mailbox", "vacation", "copy", "date", "relational", "imap4flags"):
        assert needed in extensions, sieve_line
    assert greeting.splitlines()[-1].startswith("OK"), greeting


class ManageSieve:
    """Just enough of a ManageSieve client (RFC 5804) for the round trip below."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.reader = self.sock.makefile("rb")
        self.greeting = self.response()

    def response(self) -> list[str]:
        lines: list[str] = []
        while True:
            line = self.reader.readline().decode().rstrip("\r\n")
            lines.append(line)
            if line.startswith(("OK", "NO", "BYE")):
                return lines

    def command(self, text: str) -> list[str]:
        self.sock.sendall(text.encode() + b"\r\n")
        return self.response()

    def close(self) -> None:
        self.command("LOGOUT")
        self.reader.close()
        self.sock.close()


@pytest.mark.docker
def test_managesieve_activation_symlinks_into_sieve_folder(
    docker_client: docker.DockerClient, mail_image: str, config_dir: Path, tmp_path: Path
) -> None:
    """What Dovecot uses: ManageSieve stores in ~/sieve/ and points ~/.dovecot.sieve there; the
    config folder's copy then goes through that symlink (DMS's `cp` does the same)."""
    (config_dir / "user@example.test.dovecot.sieve").write_text(FILEINTO_SCRIPT)
    port = free_port()
    env = {
        "ENABLE_MANAGESIEVE": "1",
        "TEST_MANAGESIEVE_PORT": str(port),
        "TEST_IMAP_PORT": str(free_port()),
        "TEST_SMTP_PORT": str(free_port()),
    }
    containers = _run_mail_container(docker_client, mail_image, config_dir, tmp_path, network_mode="host", env=env)
    with contextlib.closing(containers):
        container = next(containers)
        client = ManageSieve(port)
        login = base64.b64encode(b"\0user@example.test\0secret").decode()
        assert client.command(f'AUTHENTICATE "PLAIN" "{login}"')[-1].startswith("OK")
        body = VACATION_SCRIPT.encode()
        assert client.command(f'PUTSCRIPT "away" {{{len(body)}+}}\r\n{VACATION_SCRIPT}')[-1].startswith("OK")
        assert client.command('SETACTIVE "away"')[-1].startswith("OK")
        listing = client.command("LISTSCRIPTS")
        client.close()

        assert '"away" ACTIVE' in listing, listing
        # The plain file the account regeneration had copied is kept as a script of its own.
        assert '"dovecot.orig"' in listing, listing
        assert exec_checked(container, ["readlink", f"{HOME}/.dovecot.sieve"]).strip() == "sieve/away.sieve"
        assert exec_checked(container, ["cat", f"{HOME}/sieve/dovecot.orig.sieve"]) == FILEINTO_SCRIPT

        accounts = config_dir / "postfix-accounts.cf"
        atomic_write(accounts, accounts.read_text() + "# changed\n")
        wait_for(lambda: sha512_line(accounts) in read_checksums(container), timeout=10, what="checksum update")
        assert exec_checked(container, ["readlink", f"{HOME}/.dovecot.sieve"]).strip() == "sieve/away.sieve"
        assert exec_checked(container, ["cat", f"{HOME}/sieve/away.sieve"]) == FILEINTO_SCRIPT


@pytest.mark.docker
def test_managesieve_is_off_by_default(mail_container: Container) -> None:
    assert mail_container.exec_run(["bash", "-c", MANAGESIEVE_GREETING]).exit_code != 0
    assert ":4190 " not in exec_checked(mail_container, ["ss", "-ltn"])
    assert "sieve" not in exec_checked(mail_container, ["doveconf", "-h", "protocols"]).split()


@pytest.mark.docker
def test_config_folder_sieve_is_copied_to_home_on_account_changes(
    config_dir: Path, request: pytest.FixtureRequest
) -> None:
    script = config_dir / "user@example.test.dovecot.sieve"
    script.write_text(FILEINTO_SCRIPT)
    container: Container = request.getfixturevalue("mail_container")
    active = f"{HOME}/.dovecot.sieve"
    assert exec_checked(container, ["cat", active]) == FILEINTO_SCRIPT
    assert exec_checked(container, ["stat", "-c", "%u:%g", active]).strip() == "5000:5000"

    atomic_write(script, VACATION_SCRIPT)
    accounts = config_dir / "postfix-accounts.cf"
    atomic_write(accounts, accounts.read_text() + f"{OTHER}|{dms_password_hash('secret')}\n")
    wait_for(lambda: sha512_line(accounts) in read_checksums(container), timeout=10, what="checksum update")
    assert exec_checked(container, ["cat", active]) == VACATION_SCRIPT
    assert exec_checked(container, ["stat", "-c", "%u:%g", active]).strip() == "5000:5000"
    # other@ has no script in the config folder: none in its home either.
    assert container.exec_run(["test", "-e", "/var/mail/example.test/other/home/.dovecot.sieve"]).exit_code != 0

    # Like DMS: a script removed from the config folder stays active in the home.
    script.unlink()
    atomic_write(accounts, accounts.read_text() + "# changed\n")
    wait_for(lambda: sha512_line(accounts) in read_checksums(container), timeout=10, what="checksum update")
    assert exec_checked(container, ["cat", active]) == VACATION_SCRIPT
