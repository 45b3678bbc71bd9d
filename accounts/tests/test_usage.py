from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from accounts.usage import mailbox_bytes

pytestmark = pytest.mark.django_db


def make_maildir(root: Path) -> None:
    box = root / "example.test" / "user"
    for folder in ("cur", "new", "tmp", ".Junk/cur", ".Sent/new", "home"):
        (box / folder).mkdir(parents=True, exist_ok=True)
    (box / "cur" / "1700000000.M1.host,S=1000,W=1020:2,S").write_bytes(b"x" * 10)  # the name says 1000
    (box / ".Junk/cur" / "1700000001.M2.host,S=2500:2,").write_bytes(b"")
    (box / ".Sent/new" / "1700000002.M3.host").write_bytes(b"y" * 300)  # no S=: its real size
    (box / "tmp" / "partial,S=99999").write_bytes(b"")  # half-delivered: not counted
    (box / "dovecot-uidlist").write_bytes(b"z" * 50)  # index files: not mail
    (box / "home" / ".dovecot.sieve").write_bytes(b"s" * 70)


def test_mailbox_bytes_reads_sizes_from_names(tmp_path: Path) -> None:
    make_maildir(tmp_path)
    assert mailbox_bytes(tmp_path, "user@example.test") == 1000 + 2500 + 300
    assert mailbox_bytes(tmp_path, "ghost@example.test") is None


def test_the_list_shows_used_and_limit(admin_client, settings, tmp_path: Path, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    settings.DMS_MAIL_DIR = tmp_path / "mail"
    make_maildir(settings.DMS_MAIL_DIR)
    (config_dir / "dovecot-quotas.cf").write_text("user@example.test:10k\n")
    page = admin_client.get(reverse("accounts:mailbox-list"))
    assert b'value="37"' in page.content  # 3800 of 10240 bytes
    assert "3.7\xa0kB of 10\xa0kB" in page.content.decode()  # used of the limit, one format for both
