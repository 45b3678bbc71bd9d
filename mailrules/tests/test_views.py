"""The rules page in the panel (admin) and at /me/rules/ (the mail user); sievec faked."""

from __future__ import annotations

import pytest

from mailrules.tests.conftest import active

pytestmark = pytest.mark.django_db
PAGE = "/mailboxes/user@example.test/rules/"
VACATION = {"part": "vacation", "enabled": "on", "subject": "Away", "text": "Back soon.", "days": "7"}


def test_an_admin_sets_a_vacation_and_sees_it_in_use(admin_client, mail_dir, sievec) -> None:
    response = admin_client.post(PAGE, VACATION, follow=True)
    html = response.content.decode()
    assert "Vacation reply saved. Written to user@example.test.dovecot.sieve. In use now" in html
    assert 'data-state="vacation"><span class="badge ok">on</span>' in html.replace("\n", "").replace("  ", "")
    assert "vacation :days 7" in active(mail_dir).read_text()


def test_every_bad_field_of_a_submit_shows_at_once_and_nothing_is_written(admin_client, mail_dir, sievec) -> None:
    bad = {**VACATION, "text": "", "days": "0", "timezone": "../etc", "start": "2026-02-01", "end": "2026-01-01"}
    html = admin_client.post(PAGE, bad).content.decode()
    assert "A vacation reply needs a message." in html and "greater than or equal to 1" in html
    assert "Not a time zone name" in html
    assert not active(mail_dir).exists() and not sievec.compiled


def test_forwarding_errors_name_the_field(admin_client, mail_dir, sievec) -> None:
    html = admin_client.post(PAGE, {"part": "forwarding", "targets": "user@example.test"}).content.decode()
    assert "A mailbox cannot forward to itself." in html and not active(mail_dir).exists()


def test_a_broken_script_shows_sievecs_line_and_keeps_what_was_typed(admin_client, mail_dir, sievec) -> None:
    html = admin_client.post(PAGE, {"part": "script", "text": "keep;\nBROKEN;\n"}).content.decode()
    assert "line 2: unknown command &#x27;BROKEN&#x27;." in html and "BROKEN;" in html
    assert not active(mail_dir).exists()


def test_a_domain_admin_of_another_domain_gets_404(other_domain_admin_client, mail_dir, sievec) -> None:
    assert other_domain_admin_client.get(PAGE).status_code == 404
    assert other_domain_admin_client.post(PAGE, VACATION).status_code == 404
    assert not active(mail_dir).exists()


def test_the_mail_user_sets_their_own_vacation_but_gets_no_raw_editor(mail_user_client, mail_dir, sievec) -> None:
    page = mail_user_client.get("/me/rules/").content.decode()
    assert "Vacation reply and forwarding" in page and 'value="script"' not in page
    mail_user_client.post("/me/rules/", {"part": "script", "text": "discard;\n"})
    assert not active(mail_dir).exists()  # the raw editor is the admins'
    response = mail_user_client.post("/me/rules/", VACATION, follow=True)
    assert "Vacation reply saved." in response.content.decode()
    assert "vacation :days 7" in active(mail_dir).read_text()


def test_the_engine_being_down_refuses_with_the_fix_and_writes_nothing(admin_client, mail_dir, settings) -> None:
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"
    html = admin_client.post(PAGE, VACATION, follow=True).content.decode()
    assert "Not saved: the script could not be checked." in html and "DOCKER_HOST" in html
    assert not active(mail_dir).exists()


def _filter_post(**row: str) -> dict[str, str]:
    data = {"part": "filters", "filters-TOTAL_FORMS": "2", "filters-INITIAL_FORMS": "0"}
    data.update({f"filters-0-{k}": v for k, v in row.items()})
    data.update({"filters-1-field": "subject", "filters-1-match": "contains", "filters-1-action": "fileinto"})
    return data


def test_a_filter_is_saved_and_shown_again_and_a_bad_one_names_its_problem(admin_client, mail_dir, sievec) -> None:
    row = {"field": "subject", "match": "contains", "value": "invoice", "action": "fileinto", "argument": "Invoices"}
    response = admin_client.post(PAGE, _filter_post(**row), follow=True)
    html = response.content.decode()
    assert "Filters saved." in html and 'value="invoice"' in html
    assert 'fileinto :create "Invoices";' in active(mail_dir).read_text()
    bad = admin_client.post(PAGE, _filter_post(**{**row, "argument": ""})).content.decode()
    assert "name the folder" in bad and 'fileinto :create "Invoices";' in active(mail_dir).read_text()


def test_the_domains_forwarding_policy_holds_the_mail_user_but_not_the_admin(
    admin_client, mail_user_client, mail_dir, sievec
) -> None:  # type: ignore[no-untyped-def]
    from mailrules.models import ForwardingPolicy

    saved = admin_client.post(PAGE, {"part": "policy", "policy": "internal"}, follow=True).content.decode()
    assert "Forwarding policy of example.test saved." in saved
    assert ForwardingPolicy.objects.get(domain="example.test").policy == "internal"
    outside = mail_user_client.post(
        "/me/rules/", {"part": "forwarding", "targets": "me@gmail.example"}
    ).content.decode()
    assert "only to this server&#x27;s domains, not to me@gmail.example" in outside and not active(mail_dir).exists()
    inside = mail_user_client.post("/me/rules/", {"part": "forwarding", "targets": "alias@example.test"}, follow=True)
    assert "Forwarding saved." in inside.content.decode()
    admin_client.post(PAGE, {"part": "policy", "policy": "off"})
    off = mail_user_client.post("/me/rules/", {"part": "forwarding", "targets": "alias@example.test"}).content.decode()
    assert "does not allow forwarding" in off
    row = {"field": "subject", "match": "is", "value": "x", "action": "redirect", "argument": "alias@example.test"}
    by_filter = mail_user_client.post("/me/rules/", _filter_post(**row), follow=True).content.decode()
    assert "does not allow forwarding" in by_filter
    mail_user_client.post("/me/rules/", {"part": "policy", "policy": "any"})  # not theirs to change
    assert ForwardingPolicy.objects.get(domain="example.test").policy == "off"
    admin = admin_client.post(PAGE, {"part": "forwarding", "targets": "me@gmail.example"}, follow=True)
    assert "Forwarding saved." in admin.content.decode()  # the admin may always set one


def test_a_bad_policy_value_is_refused(admin_client, mail_dir, sievec) -> None:
    html = admin_client.post(PAGE, {"part": "policy", "policy": "everyone\n"}).content.decode()
    assert "Select a valid choice" in html


def test_a_mail_user_is_told_in_their_words_when_the_engine_is_down(mail_user_client, mail_dir, settings) -> None:
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"
    html = mail_user_client.post("/me/rules/", VACATION, follow=True).content.decode()
    assert "Not saved: the mail server cannot check it right now. Try again later, or tell your admin." in html
    assert "DOCKER_HOST" not in html and not active(mail_dir).exists()
