"""The panel in a real Chromium: sign in, look at home and history, roll a change back."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import ADMIN_PASSWORD, sign_in
from dms_admin.configstore import ConfigStore

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_see_history_and_roll_back(
    browser_page, live_server, superadmin, store: ConfigStore, config_dir: Path, settings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"
    original = (config_dir / "postfix-virtual.cf").read_bytes()
    store.write(
        "postfix-virtual.cf", "sales@example.test user@example.test\n", actor="alice", message="Add sales alias"
    )
    page = browser_page
    page.goto(live_server.url + "/history/")
    assert "/login/" in page.url
    page.fill("#id_username", "admin")
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('Configuration history')")
    page.click("text=Add sales alias")
    page.wait_for_selector(".diff .add:has-text('sales@example.test')")
    page.click("text=Roll back this change")
    page.click("button:has-text('Roll back')")
    page.wait_for_selector(".flash:has-text('Rolled back')")
    assert (config_dir / "postfix-virtual.cf").read_bytes() == original
    page.goto(live_server.url + "/")
    page.wait_for_selector("h1:has-text('Mail server')")
    assert page.locator("#verdict").get_attribute("data-status") == "error"  # engine unreachable: said on the page
    page.screenshot(path=str(tmp_path / "home.png"), full_page=True)


def test_the_layout_fits_a_phone(browser_page, live_server, superadmin) -> None:  # type: ignore[no-untyped-def]
    page = browser_page
    page.set_viewport_size({"width": 375, "height": 740})
    sign_in(page, live_server.url + "/login/")
    page.wait_for_selector("h1:has-text('Mail server')")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    if os.environ.get("DMS_ADMIN_SCREENSHOTS"):
        page.screenshot(path=os.environ["DMS_ADMIN_SCREENSHOTS"] + "/phone-home.png", full_page=True)
