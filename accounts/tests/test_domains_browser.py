"""The domain page in a real Chromium: generate a DKIM key and see the TXT record to publish."""

from __future__ import annotations

import os
from pathlib import Path

import django_rq
import pytest
from django_rq import get_worker

from accounts import dkim
from conftest import sign_in

# The urls marker goes once dms_admin/urls.py includes the domain URLs.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def test_generate_a_dkim_key_and_see_the_txt_record(
    browser_page, live_server, superadmin, config_dir: Path, settings, tmp_path: Path, redis_url
) -> None:  # type: ignore[no-untyped-def]
    settings.RQ_QUEUES = {name: {"URL": redis_url, "DEFAULT_TIMEOUT": 600} for name in ("default", "backups")}
    django_rq.get_queue("default").empty()
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"
    settings.DNS_RESOLVER = "not-an-address"  # "Check DNS now" must report, not fail
    page = browser_page
    sign_in(page, live_server.url + "/domains/")
    page.wait_for_selector("h1:has-text('Domains')")
    page.click("text=example.test")
    page.wait_for_selector("h1:has-text('example.test')")
    page.wait_for_selector("text=No DKIM key yet")

    page.fill("#id_selector", "s2026")
    page.select_option("#id_bits", "1024")
    page.click("button:has-text('Generate key')")
    page.wait_for_selector("h1:has-text('Job: dkim')")  # a 4096-bit key takes seconds: a job with progress
    get_worker("default", worker_class="rq.worker.SimpleWorker").work(burst=True)
    page.wait_for_selector(".job:has-text('DKIM key s2026 generated')")
    page.click("text=Back to example.test")
    value = page.locator("code.dkim-value").inner_text()
    pem = (config_dir / "opendkim" / "keys" / "example.test" / "s2026.private").read_text()
    assert value == dkim.txt_value(dkim.OPENDKIM, dkim.public_key_b64(pem))
    assert page.locator("text=s2026._domainkey.example.test").first.is_visible()
    dkim_row = page.locator("tr[data-kind=DKIM]")
    assert value in dkim_row.inner_text()  # the records table expects the new key

    page.click("button:has-text('Check DNS now')")  # htmx swaps in the checked table
    page.wait_for_selector("#dns-records:has-text('Checked just now')")
    assert page.locator("#dns-records .badge.bad").count() == 4
    page.screenshot(path=str(tmp_path / "domain.png"), full_page=True)
    if os.environ.get("DMS_ADMIN_SCREENSHOTS"):
        page.screenshot(path=os.environ["DMS_ADMIN_SCREENSHOTS"] + "/domain-detail.png", full_page=True)


def test_the_domain_page_fits_a_phone(browser_page, live_server, superadmin, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    from accounts import domains
    from dms_admin.audit import Actor

    domains.dkim_generate(domain="example.test", bits=2048, actor=Actor("admin"))
    page = browser_page
    page.set_viewport_size({"width": 375, "height": 740})
    sign_in(page, live_server.url + "/login/?next=/domains/example.test/")
    page.wait_for_selector("h1:has-text('example.test')")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # wide tables scroll inside their card
    if os.environ.get("DMS_ADMIN_SCREENSHOTS"):
        page.screenshot(path=os.environ["DMS_ADMIN_SCREENSHOTS"] + "/phone-domain.png", full_page=True)
