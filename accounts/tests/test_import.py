"""Pointing the dashboard at an existing DMS config folder shows everything, with no migration."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from accounts import relays, services
from dms_admin.audit import Actor

pytestmark = pytest.mark.django_db
ADMIN = Actor("admin")

EXISTING = {
    "postfix-accounts.cf": (
        "# made with setup email add\nalice@corp.test|{SHA512-CRYPT}$6$a$b\n"
        "bob@corp.test|{BLF-CRYPT}$2y$05$c|userdb_x=1\n"
    ),
    "postfix-virtual.cf": "# aliases\nsales@corp.test alice@corp.test\n@corp.test alice@corp.test\n",
    "postfix-regexp.cf": "# regexps\n/^qa.*@corp\\.test$/ bob@corp.test\n",
    "dovecot-quotas.cf": "# quotas\nalice@corp.test:5G\n",
    "postfix-relaymap.cf": "# relays\n@corp.test [smtp.relay.test]:587\n",
    "postfix-sasl-password.cf": "# creds\n@corp.test user:secret\n",
    "postfix-send-access.cf": "# restricted\nspam@corp.test REJECT\n",
}


@pytest.fixture
def existing(config_dir: Path, settings) -> Path:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"
    for name, text in EXISTING.items():
        (config_dir / name).write_text(text)
    return config_dir


def test_everything_in_an_existing_folder_shows(admin_client, existing: Path) -> None:  # type: ignore[no-untyped-def]
    mailboxes = admin_client.get(reverse("accounts:mailbox-list")).content
    assert b"alice@corp.test" in mailboxes and b"bob@corp.test" in mailboxes and b"BLF-CRYPT" in mailboxes
    aliases = admin_client.get(reverse("accounts:alias-list")).content
    assert b"sales@corp.test" in aliases and b"catch-all" in aliases and b"^qa.*@corp\\.test$" in aliases
    relay_page = admin_client.get(reverse("accounts:relay-list")).content
    assert b"smtp.relay.test" in relay_page and b"spam@corp.test" in relay_page and b"secret" not in relay_page


def test_comments_in_every_file_survive_panel_edits(existing: Path) -> None:
    services.mailbox_create(address="carol@corp.test", password="carol-pass-1", quota="1G", actor=ADMIN)
    services.mailbox_set_password(address="alice@corp.test", password="alice-pass-2", actor=ADMIN)
    services.alias_save(address="info@corp.test", targets=["bob@corp.test"], actor=ADMIN)
    services.regexp_save(pattern="^ops.*@corp\\.test$", targets=["bob@corp.test"], actor=ADMIN)
    relays.relay_save(domain="corp.test", host="smtp2.relay.test", port=2525, username="user", actor=ADMIN)
    relays.restriction_add(address="more@corp.test", direction="send", actor=ADMIN)
    for name, text in EXISTING.items():
        first_line = text.splitlines()[0]
        assert (existing / name).read_text().splitlines()[0] == first_line, name
    assert "bob@corp.test|{BLF-CRYPT}$2y$05$c|userdb_x=1" in (existing / "postfix-accounts.cf").read_text()
    assert (existing / "postfix-sasl-password.cf").read_text() == "# creds\n@corp.test user:secret\n"
