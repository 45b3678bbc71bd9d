"""Prepare a demo DMS config folder (one domain, two mailboxes, an alias) for trying the panel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from passlib.hash import sha512_crypt

DEMO_ENV = """\
# docker-mailserver settings (demo). See https://docker-mailserver.github.io/docker-mailserver/latest/config/environment/
OVERRIDE_HOSTNAME=mail.example.com
POSTMASTER_ADDRESS=postmaster@example.com
ENABLE_SPAMASSASSIN=1
ENABLE_CLAMAV=0
ENABLE_FAIL2BAN=0
SPAM_SUBJECT='[SPAM] '
"""


class Command(BaseCommand):
    help = "Fill DMS_CONFIG_DIR with a small demo configuration if it holds no accounts yet."

    def handle(self, *args: Any, **options: Any) -> None:
        folder = Path(settings.DMS_CONFIG_DIR)
        folder.mkdir(parents=True, exist_ok=True)
        accounts = folder / "postfix-accounts.cf"
        if accounts.exists() and accounts.read_text().strip():
            self.stdout.write(f"{folder} already has accounts; left as it is.")
            return
        hasher = sha512_crypt.using(rounds=5000)
        accounts.write_text(
            "".join(f"{a}@example.com|{{SHA512-CRYPT}}{hasher.hash('demo-' + a)}\n" for a in ("alice", "bob"))
        )
        (folder / "postfix-virtual.cf").write_text("postmaster@example.com alice@example.com\n")
        (folder / "dovecot-quotas.cf").write_text("bob@example.com:2G\n")
        (folder / "mailserver.env").write_text(DEMO_ENV)
        self.stdout.write(self.style.SUCCESS(f"Demo configuration written to {folder}"))
