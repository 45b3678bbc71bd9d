"""The health and logs pages in a real Chromium, against the real test mail container."""

from __future__ import annotations

import pytest

from conftest import sign_in
from tests.ops_helpers import UNREACHABLE, use_real_engine, write_log
from tests.test_logscan import SAMPLES

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.docker
def test_health_page_shows_services_and_a_known_error_with_its_fix(
    browser_page, live_server, superadmin, settings, docker_engine, mail_container, redis_url, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    use_real_engine(settings, docker_engine, mail_container)
    settings.RQ_QUEUES = {name: {"URL": redis_url} for name in ("default", "backups")}
    write_log(mail_container, SAMPLES["opendkim-down"])
    page = browser_page
    sign_in(page, live_server.url + "/health/")
    page.wait_for_selector("h1:has-text('Health')")
    assert page.locator("#program-postfix .badge").inner_text() == "RUNNING"
    assert page.locator("#check-container").get_attribute("data-status") == "ok"
    dkim = page.locator("#check-logopendkim-down")
    assert dkim.get_attribute("data-status") == "error"
    assert "supervisorctl restart opendkim" in dkim.locator(".fix").inner_text()
    assert page.locator("#check-clock").get_attribute("data-status") == "ok"
    assert page.locator("#unreachable").count() == 0
    page.screenshot(path=str(tmp_path / "health.png"), full_page=True)
    page.click("#program-postfix a")  # to the logs, filtered by that service
    page.wait_for_selector("h1:has-text('Mail container logs')")
    assert "service=postfix" in page.url and page.locator("table.log-lines tbody tr").count() > 0
    page.screenshot(path=str(tmp_path / "logs.png"), full_page=True)


def test_health_page_with_the_engine_unreachable(browser_page, live_server, superadmin, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = UNREACHABLE
    settings.RQ_QUEUES = {"default": {"URL": "redis://127.0.0.1:1/0"}}
    page = browser_page
    sign_in(page, live_server.url + "/health/")
    page.wait_for_selector("#unreachable")
    assert "Mail container unreachable" in page.locator("#unreachable").inner_text()
    assert page.locator("#overall").inner_text() == "error"
    assert page.locator("#check-config").get_attribute("data-status") == "ok"
