"""Self-service in a real Chromium: a mail user signs in and changes their password."""

from __future__ import annotations

from pathlib import Path

import pytest

from accounts.selfservice import Check, password_check
from conftest import TEST_PASSWORD

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

NEW_PASSWORD = "browser-pass-1"


def test_a_mail_user_signs_in_and_changes_the_password(
    browser_page, live_server, config_dir: Path, settings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"
    page = browser_page
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(live_server.url + "/me/password/")
    assert page.url.endswith("/me/login/")
    page.fill("#id_address", "user@example.test")
    page.fill("#id_password", "wrong-password")
    page.click("button[type=submit]")
    page.wait_for_selector(".flash.error:has-text('Wrong address or password.')")
    page.fill("#id_password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('Set up your mail app')")
    assert page.locator("dd:has-text('mail.example.test')").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert page.locator("td:text-is('993')").is_visible()  # the port survives the phone layout
    page.screenshot(path=str(tmp_path / "self-settings.png"), full_page=True)

    page.click("nav >> text=Password")
    page.fill("#id_old_password", TEST_PASSWORD)
    page.fill("#id_password", NEW_PASSWORD)
    page.fill("#id_password2", NEW_PASSWORD)
    page.click("button:has-text('Change password')")
    page.wait_for_selector(".flash:has-text('Password changed')")
    line = (config_dir / "postfix-accounts.cf").read_text().splitlines()[0]
    assert password_check(NEW_PASSWORD, line.split("|")[1]) is Check.OK

    page.click("button:has-text('Sign out')")
    page.wait_for_selector("h1:has-text('Your mailbox')")
    page.goto(live_server.url + "/me/")
    assert page.url.endswith("/me/login/")
