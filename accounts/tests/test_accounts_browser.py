"""Panel flows in a real Chromium: create a mailbox, set its quota, add an alias."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_create_mailbox_set_quota_add_alias(browser_page, live_server, superadmin, config_dir: Path, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"
    page = browser_page
    sign_in(page, live_server.url + "/mailboxes/")
    page.click("text=New mailbox")
    page.fill("#id_address", "Browser@Example.test")
    page.fill("#id_password", "browser-pass-1")
    page.fill("#id_password2", "browser-pass-1")
    page.click("button:has-text('Create mailbox')")
    page.wait_for_selector(".flash:has-text('Mailbox created')")
    assert page.locator("td:has-text('browser@example.test')").count() == 1
    row = page.locator("tr", has_text="browser@example.test")
    row.locator("text=Quota").click()
    page.fill("#id_quota", "2G")
    page.click("button:has-text('Save quota')")
    page.wait_for_selector(".flash:has-text('Quota saved')")
    assert "browser@example.test:2G" in (config_dir / "dovecot-quotas.cf").read_text()

    page.click("nav >> text=Aliases")
    page.fill("#id_address", "sales@example.test")
    page.fill("#id_targets", "browser@example.test\nuser@example.test")
    page.click("button:has-text('Add alias')")
    page.wait_for_selector(".flash:has-text('Alias created')")
    assert (
        "sales@example.test browser@example.test,user@example.test" in (config_dir / "postfix-virtual.cf").read_text()
    )

    # A bad address is refused on the page, and nothing is written.
    before = (config_dir / "postfix-virtual.cf").read_bytes()
    page.fill("#id_address", "bad|x@example.test")
    page.fill("#id_targets", "user@example.test")
    page.click("button:has-text('Add alias')")
    page.wait_for_selector(".field .error:has-text('Use only letters')")
    assert (config_dir / "postfix-virtual.cf").read_bytes() == before
