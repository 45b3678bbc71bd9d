"""In a real Chromium: a rules file with a denied directive is refused by line, and a DKIM key is
deleted through its confirm page, which shows the TXT record to take out of DNS. Both at 1280 and
390 px wide, without page-level horizontal scroll."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from accounts import domains
from conftest import sign_in
from dms_admin.audit import Actor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(os.environ.get("DMS_ADMIN_SCREENSHOTS", "/tmp/shots-spamdkim"))
WIDTHS = (1280, 390)
RULES = "header LOCAL_A Subject =~ /a/\n  LoadPlugin Mail::SpamAssassin::Plugin::Evil /tmp/evil.pm\nscore LOCAL_A 1.0\n"


def fits(page, width: int) -> None:  # type: ignore[no-untyped-def]
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_a_denied_rule_and_a_dkim_key_deletion_in_the_browser(
    browser_page, live_server, superadmin, settings, config_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"  # refused before lint: no container needed
    SHOTS.mkdir(parents=True, exist_ok=True)
    saved = domains.dkim_generate(domain="example.test", bits=2048, actor=Actor("admin"))
    domains.dkim_generate(domain="example.test", selector="next", bits=1024, actor=Actor("admin"))
    page = browser_page
    sign_in(page, live_server.url + "/login/?next=/spam/rules/")
    page.wait_for_selector("h1:has-text('Custom SpamAssassin rules')")

    page.fill("textarea.rules-text", RULES)
    page.click("button[value=save]")
    page.wait_for_selector(".lint-problems:has-text('not allowed in this file')")
    problem = page.locator(".lint-problems li").first
    assert problem.inner_text() == "line 2: not allowed here: loadplugin loads Perl code into the mail server."
    assert page.locator(".gutter span.bad").all_inner_texts() == ["2"]
    assert not (config_dir / "spamassassin-rules.cf").exists()
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        fits(page, width)
        page.screenshot(path=str(SHOTS / f"rules-denied-{width}.png"), full_page=True)

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(live_server.url + "/domains/example.test/")
    assert page.locator(".other-keys li").inner_text().startswith("Selector next, RSA 1024 bits (not used for signing)")
    page.set_viewport_size({"width": 390, "height": 900})
    fits(page, 390)
    page.locator("#dkim").screenshot(path=str(SHOTS / "domain-dkim-keys-390.png"))
    page.set_viewport_size({"width": 1280, "height": 900})
    page.click("text=Delete this key…")
    page.wait_for_selector("h1:has-text('Delete the DKIM key mail of example.test?')")
    assert page.locator("code.dkim-value").inner_text() == saved.key.value
    assert "the domain's other key (selector next) signs instead" in page.locator("main p").first.inner_text()
    assert page.locator("dl.facts code").first.inner_text() == "mail._domainkey.example.test"
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        fits(page, width)
        page.screenshot(path=str(SHOTS / f"dkim-delete-{width}.png"), full_page=True)
    page.click("button:has-text('Delete key')")
    page.wait_for_selector(".flash:has-text('Deleted the DKIM key mail of example.test')")
    # The next key signs now; the deleted one's files are gone.
    assert page.locator("#dkim dl.facts dd").first.inner_text() == "next"
    assert not (config_dir / "opendkim" / "keys" / "example.test" / "mail.private").exists()
    page.screenshot(path=str(SHOTS / "dkim-deleted-390.png"), full_page=True)
