"""Files a change leaves without content: kept empty or removed, per emptyfiles.RULES, in the history."""

from __future__ import annotations

from pathlib import Path

import pytest

from accounts import dkim, relays
from accounts import services as account_services
from dms_admin import emptyfiles
from dms_admin.apply import Action, action_for
from dms_admin.audit import Actor
from dms_admin.configstore import ConfigStore
from dms_admin.mailserver_env import service as settings_service
from dms_admin.models import PendingChange
from spam import files as spam_files

pytestmark = pytest.mark.django_db
ADMIN = Actor(name="admin")


def test_every_file_the_dashboard_writes_has_a_rule_with_a_reason() -> None:
    # Kept by hand (fmt: skip): the files grouped by the module that writes them.
    written = {
        account_services.ACCOUNTS, account_services.VIRTUAL, account_services.QUOTAS, account_services.REGEXP,
        relays.RELAYMAP, relays.SASL, *relays.ACCESS.values(), settings_service.ENV_FILE,
        spam_files.RULES_FILE, spam_files.AMAVIS_FILE,
        dkim.KEYTABLE, dkim.SIGNINGTABLE, dkim.TRUSTED_HOSTS, dkim.DKIM_SIGNING_CONF, dkim.CUSTOM_COMMANDS,
    }  # fmt: skip
    assert written <= set(emptyfiles.RULES)
    assert all(
        rule.when_empty in (emptyfiles.KEEP, emptyfiles.REMOVE) and rule.why for rule in emptyfiles.RULES.values()
    )


def test_blank_means_no_content_line() -> None:
    assert emptyfiles.is_blank(b"") and emptyfiles.is_blank(b"\n  \n# a comment\n   # another\n")
    assert not emptyfiles.is_blank(b"# note\n@example.test user:pw\n")


def test_the_last_relay_credentials_remove_the_file_and_need_a_recreate(config_dir: Path, store: ConfigStore) -> None:
    # An existing postfix-sasl-password.cf, even empty, makes DMS force TLS and SASL for all outbound
    # mail at every start (relay.sh); only its absence means "no credentials".
    relays.relay_save(domain="example.test", host="smtp.relay.test", port=587, username="u", password="pw", actor=ADMIN)
    assert (config_dir / relays.SASL).read_text() == "@example.test u:pw\n"
    PendingChange.objects.all().delete()
    saved = relays.relay_delete(domain="example.test", actor=ADMIN)
    assert not (config_dir / relays.SASL).exists()
    assert (config_dir / relays.RELAYMAP).read_text() == ""  # kept: emptied, DMS drops the routes at once
    assert relays.SASL in saved.result.files
    # DMS's change detector never sees a deleted file (spec §2.1): a re-create applies it.
    assert saved.outcome and (saved.outcome.apply, saved.outcome.pending) == ("recreate", True)
    assert set(PendingChange.objects.values_list("path", flat=True)) == {relays.SASL}


def test_a_removed_file_is_committed_and_rolls_back(config_dir: Path, store: ConfigStore) -> None:
    (config_dir / "amavis.cf").write_text("use strict;\n1;\n")
    store.record_external_changes()
    result = store.write("amavis.cf", "# nothing left\n\n", actor="admin", message="clear amavis.cf")
    assert not (config_dir / "amavis.cf").exists()
    assert result.sha and store.history(limit=1)[0].files == ("amavis.cf",)
    assert store.content_at(result.sha, "amavis.cf") is None
    store.rollback(result.sha, actor="admin")
    assert (config_dir / "amavis.cf").read_text() == "use strict;\n1;\n"


def test_a_blank_write_of_a_file_that_is_not_there_changes_nothing(config_dir: Path, store: ConfigStore) -> None:
    result = store.write("amavis.cf", "", actor="admin", message="nothing")
    assert not result.changed and not (config_dir / "amavis.cf").exists()


@pytest.mark.parametrize(
    "rel", ["postfix-virtual.cf", "postfix-send-access.cf", "postfix-accounts.cf", "opendkim/KeyTable"]
)
def test_files_dms_needs_to_see_empty_are_kept_empty(config_dir: Path, store: ConfigStore, rel: str) -> None:
    store.write(rel, "# something\nx y\n", actor="admin", message="fill")
    store.write(rel, "", actor="admin", message="empty")
    assert (config_dir / rel).read_text() == ""


def test_the_last_restriction_leaves_the_access_table_empty(config_dir: Path) -> None:
    # Postfix reads it straight from the folder: a missing table would defer all mail (spec §1.9).
    relays.restriction_add(address="spammer@example.test", direction="send", actor=ADMIN)
    relays.restriction_delete(address="spammer@example.test", direction="send", actor=ADMIN)
    assert (config_dir / "postfix-send-access.cf").read_text() == "# senders refused\n"


def test_a_deletion_empties_its_folders_away(config_dir: Path, store: ConfigStore) -> None:
    with store.change(actor="admin", message="a key") as change:
        change.write("opendkim/keys/example.test/mail.txt", "zone\n")
        change.write("opendkim/KeyTable", "x\n")
    with store.change(actor="admin", message="no key") as change:
        change.delete("opendkim/keys/example.test/mail.txt")
    assert not (config_dir / "opendkim" / "keys").exists() and (config_dir / "opendkim" / "KeyTable").exists()


@pytest.mark.parametrize(
    ("path", "action"),
    [
        ("postfix-sasl-password.cf", Action.RECREATE),
        ("postfix-regexp.cf", Action.RECREATE),
        ("rspamd/override.d/dkim_signing.conf", Action.RECREATE),
        ("rspamd/dkim/rsa-2048-mail-example.test.private.txt", Action.WATCHED),
        ("opendkim/keys/example.test/mail.private", Action.RECREATE),
        ("postfix-send-access.cf", Action.RECREATE),  # a reload would leave Postfix reading a missing table
    ],
)
def test_a_removal_needs_what_dms_needs_to_notice_it(path: str, action: Action) -> None:
    assert action_for(path, removed=True) == action
