"""The mail-rules services against a real config store and mail folder; sievec is faked here
(its real runs are in test_real.py, through the test mail image)."""

from __future__ import annotations

import dataclasses
import datetime
import os

import pytest

from dms_admin.audit import Actor
from dms_admin.configstore import get_store
from dms_admin.errors import Conflict, FieldError
from dms_admin.models import PendingChange
from mailrules import home, services, sieve
from mailrules.sieve import Vacation
from mailrules.tests.conftest import active

pytestmark = pytest.mark.django_db
ADMIN = Actor("admin")
ADDRESS = "user@example.test"


VACATION = Vacation(enabled=True, subject="Away", text="Back on Monday.", days=3)
# As saved: answering for the mailbox's alias too (Dovecot answers only mail addressed to one of its addresses).
SAVED = dataclasses.replace(VACATION, addresses=("alias@example.test",))


def test_a_vacation_is_written_to_the_config_folder_and_the_home_and_is_live(mail_dir, sievec, config_dir) -> None:
    saved = services.vacation_save(address=ADDRESS, vacation=VACATION, actor=ADMIN)
    config_copy = (config_dir / "user@example.test.dovecot.sieve").read_text()
    assert config_copy == active(mail_dir).read_text() == sievec.compiled[-1]
    assert sieve.parse_rules(config_copy).vacation == SAVED
    assert saved.outcome is not None and saved.outcome.state == "applied" and not saved.outcome.pending
    assert saved.outcome.message.startswith("Written to user@example.test.dovecot.sieve. In use now")
    assert get_store().history(limit=1)[0].message == "Mail rules of user@example.test"
    assert services.rules_get(address=ADDRESS).rules.vacation == SAVED
    assert (active(mail_dir).stat().st_mode & 0o777) == 0o644


def test_forwarding_keeps_the_vacation_and_clearing_both_removes_the_files(mail_dir, sievec, config_dir) -> None:
    services.vacation_save(address=ADDRESS, vacation=VACATION, actor=ADMIN)
    services.forwarding_save(address=ADDRESS, targets=["Boss+Away@Bücher.example"], keep_copy=False, actor=ADMIN)
    rules = services.rules_get(address=ADDRESS).rules
    assert rules.vacation == SAVED and rules.forward_to == ("Boss+Away@xn--bcher-kva.example",)
    assert rules.keep_copy is False
    services.vacation_save(address=ADDRESS, vacation=Vacation(), actor=ADMIN)
    assert "vacation" not in active(mail_dir).read_text()
    cleared = services.forwarding_save(address=ADDRESS, targets=[], keep_copy=True, actor=ADMIN)
    assert not active(mail_dir).exists() and not (config_dir / "user@example.test.dovecot.sieve").exists()
    assert cleared.outcome is not None
    assert cleared.outcome.message == (
        "Removed user@example.test.dovecot.sieve. In use now: no rules run for this mailbox any more."
    )


def test_a_hand_written_script_in_the_home_is_kept_around_our_region(mail_dir, sievec) -> None:
    own = 'require "fileinto";\nif header :contains "subject" "invoice" { fileinto "Invoices"; }\n'
    active(mail_dir).parent.mkdir(parents=True)
    active(mail_dir).write_text(own)
    services.forwarding_save(address=ADDRESS, targets=["a@example.org"], keep_copy=True, actor=ADMIN)
    text = active(mail_dir).read_text()
    assert sieve.without_region(text) == own and 'redirect :copy "a@example.org";' in text
    state = services.rules_get(address=ADDRESS)
    assert state.hand_written == own.strip() and not state.linked
    services.forwarding_save(address=ADDRESS, targets=[], keep_copy=True, actor=ADMIN)
    assert active(mail_dir).read_text() == own  # our part gone, theirs exactly as it was


def test_a_managesieve_link_is_followed_and_never_replaced(mail_dir, sievec, config_dir) -> None:
    folder = active(mail_dir).parent
    (folder / "sieve").mkdir(parents=True)
    (folder / "sieve" / "roundcube.sieve").write_text('require "fileinto";\nfileinto "X";\n')
    os.symlink("sieve/roundcube.sieve", active(mail_dir))
    (config_dir / "user@example.test.dovecot.sieve").write_text("keep;\n")  # from before the app took over
    saved = services.vacation_save(address=ADDRESS, vacation=VACATION, actor=ADMIN)
    assert active(mail_dir).is_symlink()
    assert "vacation" in (folder / "sieve" / "roundcube.sieve").read_text()
    assert services.rules_get(address=ADDRESS).linked
    # DMS would copy a config-folder copy over the app's script at its next regeneration: none is kept
    assert not (config_dir / "user@example.test.dovecot.sieve").exists()
    assert saved.outcome is not None and "No copy is kept in the config folder" in saved.outcome.message
    assert saved.outcome.message.startswith("Removed user@example.test.dovecot.sieve. In use now: written into")
    again = services.vacation_save(address=ADDRESS, vacation=Vacation(), actor=ADMIN)
    assert again.outcome is not None and again.outcome.message.startswith("In use now:")  # nothing else written


def test_a_link_out_of_the_home_is_refused_and_nothing_is_written(mail_dir, sievec, config_dir, tmp_path) -> None:
    outside = tmp_path / "outside.sieve"
    outside.write_text("keep;\n")
    active(mail_dir).parent.mkdir(parents=True)
    os.symlink(outside, active(mail_dir))
    with pytest.raises(home.HomeNotWritable, match="outside the mailbox's home"):
        services.vacation_save(address=ADDRESS, vacation=VACATION, actor=ADMIN)
    assert outside.read_text() == "keep;\n" and not (config_dir / "user@example.test.dovecot.sieve").exists()


def test_a_broken_raw_script_is_refused_with_its_line_and_nothing_changes(mail_dir, sievec, config_dir) -> None:
    services.vacation_save(address=ADDRESS, vacation=VACATION, actor=ADMIN)
    before = active(mail_dir).read_text()
    commits = len(get_store().history(limit=100))
    with pytest.raises(services.ScriptInvalid) as refused:
        services.script_save(address=ADDRESS, script="keep;\nBROKEN;\n", actor=ADMIN)
    assert refused.value.problems == [services.SieveProblem(2, "unknown command 'BROKEN'.")]
    assert "line 2" in refused.value.message
    assert active(mail_dir).read_text() == before and len(get_store().history(limit=100)) == commits


def test_the_raw_editor_saves_crlf_as_lf_and_reads_our_region_back(mail_dir, sievec) -> None:
    region = sieve.render_rules(sieve.MailRules(forward_to=("a@example.org",)))
    services.script_save(address=ADDRESS, script=f'require "fileinto";\r\n{region}fileinto "Y";\r\n', actor=ADMIN)
    assert "\r\n" not in active(mail_dir).read_text().replace(region, "")
    assert services.rules_get(address=ADDRESS).rules.forward_to == ("a@example.org",)


def test_a_change_made_meanwhile_by_a_mail_client_is_a_conflict(mail_dir, sievec, monkeypatch) -> None:
    real_check = services.script_check

    def client_writes_meanwhile(*, script: str, mailserver=None):  # type: ignore[no-untyped-def]
        active(mail_dir).parent.mkdir(parents=True, exist_ok=True)
        active(mail_dir).write_text("discard;\n")
        return real_check(script=script)

    monkeypatch.setattr(services, "script_check", client_writes_meanwhile)
    with pytest.raises(Conflict, match="changed meanwhile"):
        services.vacation_save(address=ADDRESS, vacation=VACATION, actor=ADMIN)
    assert active(mail_dir).read_text() == "discard;\n"


def test_a_dry_run_writes_nothing_and_shows_the_diff(mail_dir, sievec, config_dir) -> None:
    saved = services.vacation_save(address=ADDRESS, vacation=VACATION, actor=ADMIN, dry_run=True)
    assert saved.outcome is None and "+  vacation :days 3" in saved.result.diff
    assert not active(mail_dir).exists() and not (config_dir / "user@example.test.dovecot.sieve").exists()


def test_an_unwritable_home_saves_the_config_copy_and_says_it_waits_for_a_recreate(
    mail_dir, sievec, config_dir
) -> None:
    if os.geteuid() == 0:
        (mail_dir / "example.test").write_text("not a folder")  # root may write anywhere: block by a file
    else:
        mail_dir.chmod(0o500)
    try:
        saved = services.vacation_save(address=ADDRESS, vacation=VACATION, actor=ADMIN)
    finally:
        mail_dir.chmod(0o700)
    assert (config_dir / "user@example.test.dovecot.sieve").exists()
    assert saved.outcome is not None and saved.outcome.state == "needs-apply" and saved.outcome.pending
    assert "re-created" in saved.outcome.message and "failed" in saved.outcome.message
    assert PendingChange.objects.filter(path="user@example.test.dovecot.sieve").exists()
    (mail_dir / "example.test").unlink(missing_ok=True)
    services.vacation_save(address=ADDRESS, vacation=VACATION, actor=ADMIN)
    assert active(mail_dir).exists()
    # in use now: nothing waits for Apply for this file any more
    assert not PendingChange.objects.filter(path="user@example.test.dovecot.sieve").exists()


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        (["a@example.org\nb@example.org"], "Line breaks"),
        (["a@example.org\x00"], "Line breaks and NUL"),
        (["no-at-sign"], "full address"),
        (['a"b@example.org'], "not an address"),
        (["a@exa mple.org"], "not a valid domain"),
        (["USER@example.test"], "itself"),
        ([f"x{i}@example.org" for i in range(21)], "At most 20"),
        (["a@" + "b" * 300 + ".org"], "not a valid domain"),
    ],
)
def test_bad_forwarding_targets_are_refused(mail_dir, sievec, config_dir, targets, message) -> None:
    with pytest.raises(FieldError, match=message) as refused:
        services.forwarding_save(address=ADDRESS, targets=targets, keep_copy=True, actor=ADMIN)
    assert refused.value.field == "targets"
    assert not (config_dir / "user@example.test.dovecot.sieve").exists() and not sievec.compiled


@pytest.mark.parametrize(
    "vacation",
    [
        Vacation(enabled=True, subject="a\nBcc: x@example.org", text="t"),
        Vacation(enabled=True, text="t", days=0),
        Vacation(enabled=True, text=""),
        Vacation(enabled=True, text="t", start=datetime.date(2026, 2, 1), end=datetime.date(2026, 1, 1)),
        Vacation(enabled=True, text="t", timezone="../../etc/passwd"),
        Vacation(enabled=True, text="t", addresses=("a|b@example.test",)),
    ],
)
def test_bad_vacations_are_refused_and_nothing_is_written(mail_dir, sievec, config_dir, vacation) -> None:
    with pytest.raises(FieldError):
        services.vacation_save(address=ADDRESS, vacation=vacation, actor=ADMIN)
    assert not (config_dir / "user@example.test.dovecot.sieve").exists() and not sievec.compiled


def test_rules_of_a_mailbox_that_does_not_exist_are_refused(mail_dir, sievec) -> None:
    with pytest.raises(FieldError, match="no mailbox"):
        services.rules_get(address="nobody@example.test")


def test_the_vacation_answers_for_the_aliases_of_the_mailbox(mail_dir, sievec) -> None:
    assert services.rules_get(address=ADDRESS).answers_for == ("alias@example.test",)
