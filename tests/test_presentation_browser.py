"""In a real Chromium: a settings submit with errors keeps what was typed; copy buttons copy and say so."""

from __future__ import annotations

from pathlib import Path

import pytest

from accounts import domains
from conftest import sign_in, wait_until
from dms_admin.audit import Actor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _no_engine(settings):  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"
    settings.DNS_RESOLVER = "not-an-address"


def _fits(page) -> bool:  # type: ignore[no-untyped-def]
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_a_settings_submit_with_a_bad_field_keeps_every_value_and_writes_nothing(
    browser_page, live_server, superadmin, config_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    before = (config_dir / "mailserver.env").read_bytes()
    page = browser_page
    sign_in(page, live_server.url + "/settings/")
    page.wait_for_selector("h1:has-text('Mail server settings')")
    page.fill("#s-SA_TAG", "lots")
    page.fill("#s-SPAM_SUBJECT", "[SPAM] ")
    page.fill("#s-POSTFIX_MESSAGE_SIZE_LIMIT", "50M")
    page.select_option("#s-LOG_LEVEL", "debug")
    page.click("button:has-text('Save settings')")
    page.wait_for_selector(".error-summary:has-text('Nothing was saved')")
    assert (config_dir / "mailserver.env").read_bytes() == before
    assert page.input_value("#s-SA_TAG") == "lots" and page.get_attribute("#s-SA_TAG", "aria-invalid") == "true"
    assert (
        page.input_value("#s-SPAM_SUBJECT") == "[SPAM] " and page.input_value("#s-POSTFIX_MESSAGE_SIZE_LIMIT") == "50M"
    )
    assert page.input_value("#s-LOG_LEVEL") == "debug"
    assert "must be a number" in page.inner_text("#e-SA_TAG")
    page.click(".error-summary a")  # the summary leads to the field
    assert page.evaluate("location.hash") == "#s-SA_TAG"
    page.set_viewport_size({"width": 390, "height": 844})
    assert _fits(page)


def test_copy_buttons_copy_the_dkim_record_and_announce_it(
    browser_page, live_server, superadmin, config_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    domains.dkim_generate(domain="example.test", selector="mail", bits=1024, actor=Actor("admin"))
    key = domains.dkim_get("example.test")
    assert key is not None
    page = browser_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    sign_in(page, live_server.url + "/domains/example.test/")
    page.wait_for_selector("h1:has-text('example.test')")
    button = page.locator("button[aria-label='Copy the DKIM TXT value']")
    assert button.is_visible()  # hidden without JavaScript, shown by copy.js
    button.click()
    page.wait_for_selector(".copy-status:has-text('Copied')", state="attached")
    assert page.get_attribute(".copy-status", "role") == "status"
    assert button.inner_text() == "Copied"
    assert page.evaluate("navigator.clipboard.readText()") == key.value
    page.locator("button[aria-label='Copy the MX value']").click()
    wait_until(page, "() => navigator.clipboard.readText().then(t => t.startsWith('10 '))")
    page.set_viewport_size({"width": 390, "height": 844})
    assert _fits(page)

    page.goto(live_server.url + "/mailboxes/tokens/")  # a new token, shown once, with its own button
    page.fill("#id_name", "ci")
    page.click("button:has-text('Create token')")
    secret = page.inner_text("#new-token")
    page.click("button[aria-label='Copy the new token']")
    wait_until(page, "t => navigator.clipboard.readText().then(c => c === t)", arg=secret)


def test_without_the_clipboard_api_the_fallback_still_copies(
    browser_page, live_server, superadmin, config_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    page = browser_page  # as over plain http on a LAN address: no navigator.clipboard there
    page.add_init_script("Object.defineProperty(navigator, 'clipboard', {value: undefined})")
    page.add_init_script(
        "document.addEventListener('copy', e => { window.copied = document.getSelection().toString(); })"
    )
    sign_in(page, live_server.url + "/domains/example.test/")
    page.locator("button[aria-label='Copy the MX value']").click()
    page.wait_for_selector(".copy-status:has-text('Copied')", state="attached")
    assert page.evaluate("window.copied").startswith("10 ")
