from __future__ import annotations

from pathlib import Path

import pytest
from passlib.hash import sha512_crypt

from accounts import services
from dms_admin.audit import Actor
from dms_admin.configstore import ConfigStore
from dms_admin.errors import FieldError
from dms_admin.models import AuditEntry

pytestmark = pytest.mark.django_db
ADMIN = Actor(name="admin")

HOSTILE_ADDRESSES = [
    "a\nb@example.test",
    "a\rb@example.test",
    "a\x00b@example.test",
    "a|b@example.test",
    "a:b@example.test",
    "a,b@example.test",
    "a b@example.test",
    "#a@example.test",
    "x" * 300 + "@example.test",
    "jürgen@example.test",
    "no-at-sign.example.test",
    "a@exa mple.test",
    "a@example",
    "a@-bad-.test",
    "@example.test",
    "a..b@example.test",
]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_create_writes_a_sha512_crypt_line_and_commits(store: ConfigStore, config_dir: Path) -> None:
    saved = services.mailbox_create(address="New.User@Example.TEST", password="s3cret-pass", quota="2G", actor=ADMIN)
    line = (config_dir / "postfix-accounts.cf").read_text().splitlines()[-1]
    address, hashed = line.split("|")
    assert address == "new.user@example.test"
    assert hashed.startswith("{SHA512-CRYPT}$6$") and "rounds=" not in hashed
    assert sha512_crypt.verify("s3cret-pass", hashed.removeprefix("{SHA512-CRYPT}"))
    assert "new.user@example.test:2G" in (config_dir / "dovecot-quotas.cf").read_text()
    assert saved.result.sha == store.history(limit=1)[0].sha and saved.outcome and saved.outcome.apply == "watched"
    assert AuditEntry.objects.get(action="mailbox.create").object == "new.user@example.test"


def test_idn_domains_are_stored_as_punycode() -> None:
    services.mailbox_create(address="info@bücher.example", password="s3cret-pass", actor=ADMIN)
    assert services.mailbox_get(address="info@xn--bcher-kva.example")


@pytest.mark.parametrize("bad", HOSTILE_ADDRESSES)
def test_hostile_addresses_are_refused_and_nothing_changes(config_dir: Path, bad: str) -> None:
    before = snapshot(config_dir)
    with pytest.raises(FieldError) as error:
        services.mailbox_create(address=bad, password="s3cret-pass", actor=ADMIN)
    assert error.value.field == "address" and error.value.message
    assert snapshot(config_dir) == before


@pytest.mark.parametrize(("quota", "field"), [("5X", "quota"), ("5 G", "quota"), ("-1G", "quota"), ("1G\n", "quota")])
def test_bad_quota_is_refused(config_dir: Path, quota: str, field: str) -> None:
    before = snapshot(config_dir)
    with pytest.raises(FieldError) as error:
        services.mailbox_create(address="q@example.test", password="s3cret-pass", quota=quota, actor=ADMIN)
    assert error.value.field == field and snapshot(config_dir) == before


def test_duplicates_and_alias_names_are_conflicts(config_dir: Path) -> None:
    before = snapshot(config_dir)
    with pytest.raises(services.Conflict, match="exists already"):
        services.mailbox_create(address="USER@example.test", password="s3cret-pass", actor=ADMIN)
    with pytest.raises(services.Conflict, match="is an alias"):
        services.mailbox_create(address="alias@example.test", password="s3cret-pass", actor=ADMIN)
    assert snapshot(config_dir) == before


def test_password_with_a_line_break_is_refused(config_dir: Path) -> None:
    before = snapshot(config_dir)
    with pytest.raises(FieldError) as error:
        services.mailbox_set_password(address="user@example.test", password="abc\ndefghij", actor=ADMIN)
    assert error.value.field == "password" and snapshot(config_dir) == before


def test_password_change_keeps_other_lines(config_dir: Path) -> None:
    path = config_dir / "postfix-accounts.cf"
    path.write_text("# my comment\n" + path.read_text() + "other@example.test|{BLF-CRYPT}$2y$05$abc|userdb_x=1\n")
    services.mailbox_set_password(address="user@example.test", password="new-password-1", actor=ADMIN)
    lines = path.read_text().splitlines()
    assert lines[0] == "# my comment" and lines[2] == "other@example.test|{BLF-CRYPT}$2y$05$abc|userdb_x=1"
    assert sha512_crypt.verify("new-password-1", lines[1].split("|")[1].removeprefix("{SHA512-CRYPT}"))


def test_delete_removes_quota_and_alias_targets(config_dir: Path) -> None:
    (config_dir / "dovecot-quotas.cf").write_text("user@example.test:1G\n")
    (config_dir / "postfix-virtual.cf").write_text(
        "# aliases\nalias@example.test user@example.test\nteam@example.test user@example.test,x@other.test\n"
    )
    services.mailbox_delete(address="user@example.test", actor=ADMIN)
    assert "user@" not in (config_dir / "postfix-accounts.cf").read_text()
    assert (config_dir / "dovecot-quotas.cf").read_text() == ""
    assert (config_dir / "postfix-virtual.cf").read_text() == "# aliases\nteam@example.test x@other.test\n"


def test_a_dry_run_shows_the_diff_and_writes_nothing(config_dir: Path, store: ConfigStore) -> None:
    before, count = snapshot(config_dir), store.count()
    saved = services.mailbox_create(address="dry@example.test", password="s3cret-pass", actor=ADMIN, dry_run=True)
    assert saved.outcome is None and "+dry@example.test|{SHA512-CRYPT}" in saved.result.diff
    assert snapshot(config_dir) == before and store.count() == count


def test_the_quota_line_goes_before_a_line_that_contains_it(config_dir: Path) -> None:
    (config_dir / "dovecot-quotas.cf").write_text("alice.bob@example.test:5G\n")
    services.mailbox_create(address="bob@example.test", password="s3cret-pass", quota="1G", actor=ADMIN)
    assert (config_dir / "dovecot-quotas.cf").read_text() == "bob@example.test:1G\nalice.bob@example.test:5G\n"


def test_a_mailbox_that_gets_another_quota_line_says_so(config_dir: Path, admin_client) -> None:  # type: ignore[no-untyped-def]
    (config_dir / "dovecot-quotas.cf").write_text("alice.bob@example.test:5G\n")
    services.mailbox_create(address="bob@example.test", password="s3cret-pass", actor=ADMIN)  # no quota of its own
    bob = next(m for m in services.mailbox_list() if m.address == "bob@example.test")
    assert (bob.quota, bob.quota_via) == ("5G", "alice.bob@example.test")  # what DMS really enforces
    page = admin_client.get("/mailboxes/?search=bob").content.decode()
    assert 'data-quota-via="alice.bob@example.test"' in page and "Set a quota of its own" in page
    services.quota_set(address="bob@example.test", quota="1G", actor=ADMIN)
    bob = next(m for m in services.mailbox_list() if m.address == "bob@example.test")
    assert (bob.quota, bob.quota_via) == ("1G", "")


def test_list_searches_and_filters(config_dir: Path) -> None:
    services.mailbox_create(address="anna@other.test", password="s3cret-pass", actor=ADMIN)
    assert [m.address for m in services.mailbox_list()] == ["user@example.test", "anna@other.test"]
    assert [m.address for m in services.mailbox_list(search="ANN")] == ["anna@other.test"]
    assert [m.address for m in services.mailbox_list(domain="example.test")] == ["user@example.test"]
