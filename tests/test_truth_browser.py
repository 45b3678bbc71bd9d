"""Issue 13's acceptance in a real Chromium: a saved change ends in "Applied" (real mail container)
or "Not applied" with the fix (engine stopped), in place; home tells the server's state.

Confirmation jobs run in a real RQ worker (a thread of this process, real Redis) while the page
watches. Screenshots land in $DMS_ADMIN_SHOTS (default /tmp/dms-admin-shots) to be looked at.
"""

from __future__ import annotations

import os
from pathlib import Path

import django_rq
import pytest

from conftest import sign_in
from tests.jobworker import ThreadedWorker
from tests.ops_helpers import UNREACHABLE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(os.environ.get("DMS_ADMIN_SHOTS", "/tmp/dms-admin-shots"))


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _queues(settings, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    settings.RQ_QUEUES = {name: {"URL": redis_url, "DEFAULT_TIMEOUT": 600} for name in ("default", "backups")}
    for queue in ("default", "backups"):
        django_rq.get_queue(queue).empty()


def _create_mailbox(page, base: str, address: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base + "/mailboxes/new/")
    page.fill("#id_address", address)
    page.fill("#id_password", "pw-123456789")
    page.fill("#id_password2", "pw-123456789")
    page.click("button:has-text('Create mailbox')")


def _no_page_scroll(page) -> None:  # type: ignore[no-untyped-def]
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_with_the_engine_stopped_a_create_says_waiting_then_not_applied_with_the_fix(
    browser_page, live_server, superadmin, settings, redis_url
) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = UNREACHABLE
    _queues(settings, redis_url)
    page = browser_page
    sign_in(page, live_server.url + "/")
    page.wait_for_selector("#verdict")
    with ThreadedWorker("default"):
        _create_mailbox(page, live_server.url, "down@example.test")
        flash = page.locator(".flash:has(.apply-status)")
        assert "Written to postfix-accounts.cf." in flash.inner_text()
        page.wait_for_selector(".apply-status.failed", timeout=5_000)
    text = flash.inner_text()
    assert "Not applied:" in text and "The Docker engine cannot be reached" in text and "DOCKER_HOST" in text
    assert "Connection aborted" not in text.split("Details")[0]
    _shot(page, "create-engine-down-1280")
    page.goto(live_server.url + "/")
    verdict = page.locator("#verdict")
    assert verdict.get_attribute("data-status") == "error"
    assert "Docker engine cannot be reached" in verdict.inner_text()
    assert page.locator("#confirm-failed").count() == 1
    _shot(page, "home-engine-down-1280")
    # Keyboard: the skip link leads to the content; Escape closes an open menu.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.click("details.more:not(.account-menu) summary")
    assert page.locator("details.more:not(.account-menu)").get_attribute("open") is not None
    page.keyboard.press("Escape")
    assert page.locator("details.more:not(.account-menu)").get_attribute("open") is None
    page.click(".account-menu summary")
    menu = page.locator(".account-menu .menu").inner_text()
    assert "Sign out\n" in menu and "Sign out everywhere" in menu and "every browser" in menu
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    _no_page_scroll(page)
    _shot(page, "home-engine-down-390")


@pytest.mark.docker
def test_with_the_real_mail_container_a_create_ends_in_applied_and_home_shows_the_server(
    browser_page, live_server, superadmin, settings, redis_url, docker_engine, mail_container
) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = docker_engine.host
    settings.DMS_CONTAINER_NAME = mail_container.name
    settings.DMS_CONTAINER_LABEL = ""
    _queues(settings, redis_url)
    page = browser_page
    sign_in(page, live_server.url + "/")
    page.wait_for_selector("#verdict")
    with ThreadedWorker("default"):
        _create_mailbox(page, live_server.url, "live@example.test")
        page.wait_for_selector(".apply-status.applied", timeout=30_000)
    text = page.locator(".flash:has(.apply-status)").inner_text()
    assert "Applied: docker-mailserver picked it up (" in text and " s)." in text
    _shot(page, "create-applied-1280")
    page.goto(live_server.url + "/")
    assert page.locator("#container-state").inner_text().startswith("running")
    assert page.locator("#dms-version").inner_text() not in ("", "unknown")
    states = {
        li.get_attribute("data-service"): li.get_attribute("data-state") for li in page.locator("[data-service]").all()
    }
    assert states["Postfix"] == "up" and states["Dovecot"] == "up", states
    assert "2 mailboxes" in page.locator("#home-mail-data").inner_text()
    assert page.locator("#home-queue").inner_text().strip().endswith("Empty.")
    _shot(page, "home-real-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    _no_page_scroll(page)
    _shot(page, "home-real-390")
