"""History in a real Chromium: roll back one change, and see a conflicting rollback refused with its lines."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from accounts.services import alias_delete, alias_save
from conftest import sign_in
from dms_admin.audit import Actor
from dms_admin.configstore import ConfigStore

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (1280, 390)


def shoot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """Every width fits without page-level horizontal scroll; screenshots when asked for."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
        if folder := os.environ.get("DMS_ADMIN_SCREENSHOTS"):
            Path(folder).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=f"{folder}/{name}-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_roll_back_one_change_and_see_a_conflict(
    browser_page, live_server, superadmin, store: ConfigStore, config_dir: Path, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"
    alice, bob = Actor("alice"), Actor("bob")
    alias_save(address="a@example.test", targets=["user@example.test"], actor=alice)
    alias_save(address="b@example.test", targets=["user@example.test"], actor=bob)
    page = browser_page
    sign_in(page, live_server.url + "/history/")
    page.wait_for_selector("h1:has-text('Configuration history')")
    page.fill("input[name=author]", "alice")
    page.click("button:has-text('Filter')")
    page.wait_for_selector("text=1 change match")
    page.click("text=Create alias a@example.test")
    page.click("text=Roll back this change")
    page.wait_for_selector(".diff .del:has-text('a@example.test user@example.test')")
    assert page.locator(".diff .del:has-text('b@example.test')").count() == 0
    page.click("button:has-text('Roll back')")
    page.wait_for_selector(".flash:has-text('Rolled back')")
    virtual = (config_dir / "postfix-virtual.cf").read_text()
    assert "a@example.test" not in virtual and "b@example.test user@example.test" in virtual

    # Later changes by bob touch the lines of alice's new alias: her rollback is refused, with them.
    alias_save(address="c@example.test", targets=["user@example.test"], actor=alice)
    alias_save(address="c@example.test", targets=["bob@example.test"], actor=bob, replace=True)
    alias_delete(address="b@example.test", actor=bob)
    page.goto(live_server.url + "/history/")
    shoot(page, "history")
    page.click("text=Create alias c@example.test")
    page.click("text=Roll back this change")
    message = page.wait_for_selector(".conflicts")
    assert "Not rolled back" in message.inner_text()
    assert page.locator(".conflict .add:has-text('c@example.test bob@example.test')").count() == 1
    assert page.locator(".conflict .del:has-text('c@example.test user@example.test')").count() == 1
    assert page.locator("button:has-text('Roll back')").count() == 0
    shoot(page, "conflict")
    assert "c@example.test bob@example.test" in (config_dir / "postfix-virtual.cf").read_text()

    # The whole file as alice left it, undoing bob's two later changes, which the preview lists.
    page.click("text=Back to the change")
    page.click("text=Restore this file as of this version")
    page.wait_for_selector("h2:has-text('Later changes this undoes (2)')")
    assert page.locator("table.history td:has-text('Change alias c@example.test')").count() == 1
    shoot(page, "restore")
    page.click("button:has-text('Restore this file')")
    page.wait_for_selector(".flash:has-text('Restored postfix-virtual.cf')")
    virtual = (config_dir / "postfix-virtual.cf").read_text()
    assert "c@example.test user@example.test" in virtual and "b@example.test user@example.test" in virtual
