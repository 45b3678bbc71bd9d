"""The sign-in lock as a person meets it, in a real Chromium, at desktop and phone width."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ADMIN_PASSWORD, sign_in
from dms_admin.models import AuditEntry

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/shots-access")


@pytest.mark.parametrize("width", [1280, 390])
def test_the_locked_out_message_on_the_login_page(browser_page, live_server, superadmin, width: int) -> None:  # type: ignore[no-untyped-def]
    page = browser_page
    page.set_viewport_size({"width": width, "height": 800})
    for _ in range(5):
        sign_in(page, live_server.url + "/login/", password="wrong-password")
        page.wait_for_selector(".flash.error:has-text('Wrong username or password.')")
    sign_in(page, live_server.url + "/login/", password=ADMIN_PASSWORD)
    flash = page.wait_for_selector(".flash.error:has-text('Too many failed sign-ins')")
    text = flash.inner_text().strip()
    assert text.startswith("Too many failed sign-ins from your address for this account; try again in ")
    assert text.endswith(" seconds.") and "/login/" in page.url  # refused, not signed in
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert AuditEntry.objects.filter(action="login.lock", object="admin", ip="127.0.0.1").exists()
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"locked-{width}.png"), full_page=True)
