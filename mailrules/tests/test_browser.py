"""A mail user sets and clears their vacation at /me/rules/ in a real Chromium, desktop and phone
width (sievec faked: its real runs are in test_real.py). Screenshots in $DMS_ADMIN_SHOTS."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import TEST_PASSWORD
from mailrules.tests.conftest import active

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(os.environ.get("DMS_ADMIN_SHOTS", "/tmp/dms-admin-shots"))


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("width", [1280, 390])
def test_a_mail_user_sets_and_clears_their_vacation(browser_page, live_server, mail_dir, sievec, width) -> None:  # type: ignore[no-untyped-def]
    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(live_server.url + "/me/login/")
    page.fill("#id_address", "user@example.test")
    page.fill("#id_password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.click("a:has-text('Vacation and forwarding')")
    page.check("#id_enabled")
    page.fill("#id_subject", "Away")
    page.fill("#id_text", "Back on Monday.\n.leading dot")
    page.fill("#id_end", "2026-12-31")
    page.click("button:has-text('Save vacation reply')")
    flash = page.locator(".flash.success")
    assert "Vacation reply saved." in flash.inner_text() and "In use now" in flash.inner_text()
    assert page.locator('[data-state="vacation"]').inner_text().startswith("on")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    _shot(page, f"me-rules-on-{width}")
    script = active(mail_dir).read_text()
    assert "vacation :days 7" in script and "\n..leading dot\n" in script
    page.uncheck("#id_enabled")
    page.click("button:has-text('Save vacation reply')")
    assert page.locator('[data-state="vacation"]').inner_text().startswith("off")
    assert page.input_value("#id_text") == "Back on Monday.\n.leading dot"  # switched off, text kept
    _shot(page, f"me-rules-off-{width}")
    assert "if allof(false," in active(mail_dir).read_text()


@pytest.mark.parametrize("width", [1280, 390])
def test_an_admin_adds_a_filter_and_with_the_engine_down_is_told_nothing_was_saved(  # type: ignore[no-untyped-def]
    browser_page, live_server, superadmin, mail_dir, sievec, monkeypatch, settings, width
) -> None:
    from conftest import sign_in

    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server.url + "/mailboxes/user@example.test/rules/")
    page.fill("#id_filters-0-value", "invoice")
    page.fill("#id_filters-0-argument", "Invoices")
    page.click("button:has-text('Save filters')")
    assert "Filters saved." in page.locator(".flash.success").inner_text()
    assert page.input_value("#id_filters-0-value") == "invoice"
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    _shot(page, f"admin-rules-{width}")
    monkeypatch.undo()  # the real adapter again, on an engine that is not there
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"
    page.fill("#id_filters-0-value", "receipt")
    page.click("button:has-text('Save filters')")
    error = page.locator(".flash.error").inner_text()
    assert "Not saved: the script could not be checked." in error and "DOCKER_HOST" in error
    assert 'header :contains "subject" "invoice"' in active(mail_dir).read_text()
    _shot(page, f"admin-rules-engine-down-{width}")
