"""The panel in a real Chromium: sign in, look at home and history, roll a change back."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import ADMIN_PASSWORD
from dms_admin.configstore import ConfigStore

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip


@pytest.fixture
def browser_page(monkeypatch):  # type: ignore[no-untyped-def]
    if not shutil.which(CHROMIUM):
        pytest.skip("Chromium is not installed (make test installs it as root)")
    # Playwright's sync API runs an event loop in this thread; our ORM calls here are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser.new_page()
        finally:
            browser.close()


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
    assert page.locator(".flash.error").first.inner_text().strip()  # engine unreachable: said on the page
    page.screenshot(path=str(tmp_path / "home.png"), full_page=True)


def test_the_layout_fits_a_phone(browser_page, live_server, superadmin) -> None:  # type: ignore[no-untyped-def]
    page = browser_page
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('Mail server')")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    if os.environ.get("DMS_ADMIN_SCREENSHOTS"):
        page.screenshot(path=os.environ["DMS_ADMIN_SCREENSHOTS"] + "/phone-home.png", full_page=True)
