"""Mail rules through the real test mail image (Postfix → Dovecot LMTP with Pigeonhole): the
container's own sievec checks, and a vacation, a forward and a hand-written filter act on real
deliveries, read back from the Maildirs."""

from __future__ import annotations

import datetime
import smtplib
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from accounts.tests.test_mailboxes_real import eventually
from conftest import TEST_HASH
from dms_admin.audit import Actor
from dms_admin.dms import get_mailserver
from mailrules import services, sieve
from mailrules.sieve import MailRules, Vacation
from tests.ops_helpers import use_real_engine

pytestmark = [pytest.mark.docker, pytest.mark.django_db]
ADMIN = Actor("admin")
USER, SENDER, BOSS = "user@example.test", "sender@example.test", "boss@example.test"


@pytest.fixture
def three_mailboxes(config_dir: Path) -> Path:
    accounts = config_dir / "postfix-accounts.cf"
    accounts.write_text(accounts.read_text() + f"{SENDER}|{TEST_HASH}\n{BOSS}|{TEST_HASH}\n")
    return config_dir


@pytest.fixture
def served(settings, three_mailboxes, docker_engine, mail_container_served, tmp_path):  # type: ignore[no-untyped-def]
    use_real_engine(settings, docker_engine, mail_container_served.container)
    settings.DMS_MAIL_DIR = tmp_path / "mail"  # the container's /var/mail
    return mail_container_served


def send(port: int, sender: str, to: str, subject: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message.set_content("Hello.\n")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.send_message(message)


def messages(mail_dir: Path, address: str, folder: str = "") -> list[str]:
    local, _, domain = address.partition("@")
    base = mail_dir / domain / local / (f".{folder}" if folder else "")
    folders = [base / sub for sub in ("new", "cur") if (base / sub).is_dir()]
    return [p.read_text(errors="replace") for folder_ in folders for p in folder_.iterdir()]


def test_sievec_of_the_container_accepts_a_good_script_and_names_the_line_of_a_bad_one(served) -> None:  # type: ignore[no-untyped-def]
    assert services.script_check(script='require "fileinto";\nfileinto "X";\n') == []
    problems = services.script_check(script='require "fileinto";\n\nfileinto "X"\nkeep;\n')
    assert problems and problems[0].line in (3, 4), problems
    assert services.script_check(script="vacationx;\n")[0].line == 1


def test_everything_the_dashboard_renders_compiles_in_the_real_sievec(served) -> None:  # type: ignore[no-untyped-def]
    from mailrules.tests.test_sieve import FILTERS

    vacation = Vacation(
        enabled=False,
        start=datetime.date(2026, 7, 1),
        end=datetime.date(2026, 7, 9),
        timezone="Europe/Berlin",
        subject='Away "now"',
        text="Back.\n.dot",
        addresses=("alias@example.test",),
    )
    rules = MailRules(vacation=vacation, forward_to=("a@example.org",), keep_copy=True, filters=FILTERS)
    own = 'require "fileinto";\nif header :contains "subject" "x" { fileinto "X"; stop; }\n'
    assert services.script_check(script=sieve.merge_into(own, rules)) == []


def test_a_vacation_answers_each_sender_once_and_a_forward_keeps_a_copy(served, tmp_path) -> None:  # type: ignore[no-untyped-def]
    mail = tmp_path / "mail"
    vacation = Vacation(enabled=True, subject="Away", text="Back on Monday.", days=1)
    saved = services.vacation_save(address=USER, vacation=vacation, actor=ADMIN)
    assert saved.outcome is not None and saved.outcome.state == "applied"
    services.forwarding_save(address=USER, targets=[BOSS], keep_copy=True, actor=ADMIN)
    send(served.smtp_port, SENDER, USER, "first")
    eventually(lambda: len(messages(mail, SENDER)) == 1, timeout=30)
    send(served.smtp_port, SENDER, USER, "second")
    eventually(lambda: len(messages(mail, BOSS)) == 2 and len(messages(mail, USER)) == 2, timeout=30)
    time.sleep(2)  # a second reply, if any, would have come by now
    replies = messages(mail, SENDER)
    assert len(replies) == 1 and "Subject: Away" in replies[0] and "Back on Monday." in replies[0]


def test_a_hand_written_filter_keeps_working_beside_our_region_and_survives_a_recreate(served, tmp_path) -> None:  # type: ignore[no-untyped-def]
    mail = tmp_path / "mail"
    own = 'require ["fileinto", "mailbox"];\nif header :contains "subject" "invoice" { fileinto :create "Invoices"; }\n'
    services.script_save(address=USER, script=own, actor=ADMIN)
    services.forwarding_save(address=USER, targets=[BOSS], keep_copy=True, actor=ADMIN)
    send(served.smtp_port, SENDER, USER, "invoice 42")
    eventually(lambda: len(messages(mail, USER, "Invoices")) == 1 and len(messages(mail, BOSS)) == 1, timeout=30)
    (mail / "example.test" / "user" / "home" / ".dovecot.sieve").unlink()  # as if the volume lost it
    get_mailserver().recreate()
    get_mailserver().wait_healthy(timeout=120)
    send(served.smtp_port, SENDER, USER, "invoice 43")  # DMS put the config folder's copy back
    eventually(lambda: len(messages(mail, USER, "Invoices")) == 2 and len(messages(mail, BOSS)) == 2, timeout=60)


def test_with_managesieve_a_vacation_goes_into_the_apps_script_and_dms_never_overwrites_it(  # type: ignore[no-untyped-def]
    settings, three_mailboxes, docker_engine, docker_client, mail_image, tmp_path
) -> None:
    import base64
    import contextlib

    from tests.realenv.containers import wait_for
    from tests.realenv.fixtures import _run_mail_container
    from tests.realenv.redis_server import free_port
    from tests.realenv.test_mailimage import ManageSieve, read_checksums, sha512_line

    sieve_port, smtp_port = free_port(), free_port()
    env = {
        "ENABLE_MANAGESIEVE": "1",
        "TEST_MANAGESIEVE_PORT": str(sieve_port),
        "TEST_SMTP_PORT": str(smtp_port),
        "TEST_IMAP_PORT": str(free_port()),
    }  # fmt: skip  Kept by hand: four variables on two lines
    containers = _run_mail_container(docker_client, mail_image, three_mailboxes, tmp_path, network_mode="host", env=env)
    with contextlib.closing(containers):
        container = next(containers)
        use_real_engine(settings, docker_engine, container)
        settings.DMS_MAIL_DIR = tmp_path / "mail"
        app = ManageSieve(sieve_port)
        login = base64.b64encode(f"\0{USER}\0secret".encode()).decode()
        assert app.command(f'AUTHENTICATE "PLAIN" "{login}"')[-1].startswith("OK")
        own = (
            'require ["fileinto", "mailbox"];\n'
            + 'if header :contains "subject" "invoice" { fileinto :create "Invoices"; }\n'
        )
        assert app.command(f'PUTSCRIPT "roundcube" {{{len(own)}+}}\r\n{own}')[-1].startswith("OK")
        assert app.command('SETACTIVE "roundcube"')[-1].startswith("OK")

        vacation = Vacation(enabled=True, subject="Away", text="Back on Monday.", days=1)
        saved = services.vacation_save(address=USER, vacation=vacation, actor=ADMIN)
        assert saved.outcome is not None and "ManageSieve" in saved.outcome.message
        listing = app.command('GETSCRIPT "roundcube"')
        assert any("vacation" in line for line in listing) and any("Invoices" in line for line in listing)
        send(smtp_port, SENDER, USER, "invoice 7")  # live at once, no re-create
        mail = tmp_path / "mail"
        eventually(lambda: len(messages(mail, SENDER)) == 1 and len(messages(mail, USER, "Invoices")) == 1, timeout=30)

        newer = own.replace("invoice", "receipt")  # the app saves its own edit afterwards
        assert app.command(f'PUTSCRIPT "roundcube" {{{len(newer)}+}}\r\n{newer}')[-1].startswith("OK")
        app.close()
        accounts = three_mailboxes / "postfix-accounts.cf"
        accounts.write_text(accounts.read_text() + "# changed\n")  # DMS regenerates accounts (and copies scripts)
        wait_for(lambda: sha512_line(accounts) in read_checksums(container), timeout=20, what="account regeneration")
        home_script = mail / "example.test" / "user" / "home" / "sieve" / "roundcube.sieve"
        assert home_script.read_text() == newer  # the app's edit stands
